"""The events service through the mesh, in one process, over SQLite and over a real redis-server: publish with
each modifier, read and follow as a STREAM, subscribers with and without groups, topic patterns, and bad
input on the caller; retention, on SQLite."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from mesh import BG, FG, NO_RETURN, STREAM, Global, SerializationError, UsageError
from mesh.services import Event, Events
from mesh.services.events import EventLog, EventStore, Retention, serve_events
from mesh.services.events._topics import matches
from tests._support.redis_server import RedisServer
from tests._support.workers import wait_until

pytestmark = pytest.mark.timeout(60)

Make = Callable[..., tuple[Global, Events]]


@pytest.fixture(params=["sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> EventStore:
    if request.param == "sqlite":
        return EventLog(tmp_path / "log")
    from mesh.services.events import RedisLog

    start: Callable[[], RedisServer] = request.getfixturevalue("redis_server")
    return RedisLog(start().url)  # type: ignore[no-any-return]


def test_offsets_increase_per_topic_and_read_gives_the_events_in_order(events_mesh: Make, store: EventStore) -> None:
    _, ev = events_mesh(store)
    assert [ev.publish("orders", n) & FG for n in range(3)] == [0, 1, 2]
    assert ev.publish("refunds", "r") & FG == 0
    events = list(ev.read("orders") & STREAM)
    assert [(e.topic, e.offset, e.payload) for e in events] == [("orders", 0, 0), ("orders", 1, 1), ("orders", 2, 2)]
    assert all(isinstance(e, Event) and e.time <= time.time() for e in events)
    assert [e.payload for e in ev.read("orders", from_offset=2) & STREAM] == [2]
    assert list(ev.read("nothing.yet") & STREAM) == []
    assert ev.topics() & FG == {"orders": 3, "refunds": 1}


def test_the_node_hosting_the_service_reads_and_subscribes_as_any_other(tmp_path: Path) -> None:
    """A call to a callback of this very node is not encoded: the events still come as Events with
    their payloads, not as the service's stored form."""
    with Global(process_name="events", init_controller=True) as g:
        served = serve_events(g, EventLog(tmp_path / "log"))
        try:
            ev = Events(g)
            ev.publish("t", {"n": 1}) & FG
            events = list(ev.read("t") & STREAM)
            assert events == [Event("t", 0, events[0].time, {"n": 1})]
            got: list[Event] = []
            with ev.subscribe("t", got.append, group="g"):
                wait_until(lambda: len(got) == 1, 5, "the subscriber on the service's node to get the event")
            assert got[0].payload == {"n": 1}
        finally:
            served.close()


def test_an_event_is_read_only_and_loads_its_payload_when_read() -> None:
    event = Event.stored("t", 3, 1.5, b"not a pickle")
    assert (event.topic, event.offset, event.time) == ("t", 3, 1.5)
    with pytest.raises(SerializationError, match="event 3 of 't': cannot load its payload here"):
        event.payload  # noqa: B018
    with pytest.raises(AttributeError):
        event.offset = 4  # type: ignore[misc]


def test_every_modifier_applies(events_mesh: Make, store: EventStore) -> None:
    _, ev = events_mesh(store)
    pending = [ev.publish("t", n) & BG for n in range(50)]
    assert sorted(p.get(timeout=10) for p in pending) == list(range(50))
    ev.publish("t", "fire and forget") & NO_RETURN
    wait_until(lambda: (ev.topics() & FG).get("t") == 51, 5, "the NO_RETURN publish to land")
    assert ev.publish("t", "named").fg(timeout=10, receiver="events") == 51
    payloads = [e.payload for e in ev.read("t") & STREAM]
    assert sorted(payloads[:50]) == list(range(50))
    assert payloads[50:] == ["fire and forget", "named"]


def test_publish_many_writes_its_events_together_in_order(events_mesh: Make, store: EventStore) -> None:
    _, ev = events_mesh(store)
    ev.publish("t", "before") & FG
    pending = [ev.publish_many("t", [(batch, n) for n in range(100)]) & BG for batch in range(5)]
    ev.publish("t", "alone") & NO_RETURN
    offsets = [p.get(timeout=10) for p in pending]
    for batch in offsets:
        assert batch == list(range(batch[0], batch[0] + 100)), "one call's events are consecutive"
    assert sorted(o for batch in offsets for o in batch) == sorted(set(o for batch in offsets for o in batch))
    assert ev.publish_many("t", []) & FG == []
    wait_until(lambda: (ev.topics() & FG)["t"] == 502, 5, "every event to land")
    payloads = {e.offset: e.payload for e in ev.read("t") & STREAM}
    for number, batch in enumerate(offsets):
        assert [payloads[o] for o in batch] == [(number, n) for n in range(100)]
    with pytest.raises(SerializationError, match=r"publish to 't': cannot pickle the payload, a generator"):
        ev.publish_many("t", [1, (n for n in range(3))])


def test_payloads_of_any_kind_and_size(events_mesh: Make) -> None:
    _, ev = events_mesh()
    big = bytes(range(256)) * 4096
    ev.publish("kinds", {"nested": [1, (2, 3)], "big": big}) & FG
    ev.publish("kinds", lambda x: x + 1) & FG  # dill writes what pickle cannot
    first, second = (e.payload for e in ev.read("kinds") & STREAM)
    assert first == {"nested": [1, (2, 3)], "big": big}
    assert second(1) == 2


def test_read_with_follow_goes_on_with_new_events(events_mesh: Make, store: EventStore) -> None:
    _, ev = events_mesh(store)
    ev.publish("live", "before") & FG
    seen: list[object] = []
    with ev.read("live", follow=True) & STREAM as events:
        for event in events:
            seen.append(event.payload)
            if len(seen) == 1:
                threading.Thread(target=lambda: [ev.publish("live", n) & FG for n in range(3)]).start()
            if len(seen) == 4:
                break
    assert seen == ["before", 0, 1, 2]


def test_every_subscriber_without_a_group_gets_every_event_from_when_it_subscribed(
    events_mesh: Make, store: EventStore
) -> None:
    _, ev = events_mesh(store)
    ev.publish("news", "too early") & FG
    _, ev2 = events_mesh.node("second")  # type: ignore[attr-defined]
    first: list[int] = []
    second: list[int] = []
    ev.subscribe("news", lambda e: first.append(e.payload))
    ev2.subscribe("news", lambda e: second.append(e.payload))
    for n in range(200):
        ev.publish("news", n) & BG
    wait_until(lambda: len(first) == len(second) == 200, 10, "both subscribers to get every event")
    assert first == second == list(range(200))


def test_a_group_shares_the_events_each_member_in_offset_order_and_commits(
    events_mesh: Make, store: EventStore
) -> None:
    _, ev = events_mesh(store)
    _, ev2 = events_mesh.node("second")  # type: ignore[attr-defined]
    got: dict[str, list[int]] = {"a": [], "b": []}

    def handler(name: str) -> Callable[[Event], None]:
        def handle(event: Event) -> None:
            time.sleep(0.001)  # long enough for the other member to take the next batch
            got[name].append(event.offset)

        return handle

    ev.subscribe("work", handler("a"), group="workers")
    ev2.subscribe("work", handler("b"), group="workers")
    pending = [ev.publish("work", n) & BG for n in range(1000)]
    [p.get(timeout=20) for p in pending]
    wait_until(lambda: len(got["a"]) + len(got["b"]) == 1000, 20, "the group to take every event")
    assert sorted(got["a"] + got["b"]) == list(range(1000))
    assert got["a"] and got["b"], "both members took events"
    assert got["a"] == sorted(got["a"]) and got["b"] == sorted(got["b"])
    wait_until(lambda: ev.committed("workers") & FG == {"work": 1000}, 5, "the group's position to be committed")


def test_a_group_member_that_subscribes_later_goes_on_from_the_committed_position(
    events_mesh: Make, store: EventStore
) -> None:
    _, ev = events_mesh(store)
    for n in range(5):
        ev.publish("jobs", n) & FG
    first: list[int] = []
    subscription = ev.subscribe("jobs", lambda e: first.append(e.offset), group="g")
    wait_until(lambda: first == [0, 1, 2, 3, 4], 5, "a new group to start at the oldest event")
    wait_until(lambda: ev.committed("g") & FG == {"jobs": 5}, 5, "the commit")
    subscription.close()
    for n in range(5, 8):
        ev.publish("jobs", n) & FG
    again: list[int] = []
    with ev.subscribe("jobs", lambda e: again.append(e.offset), group="g"):
        wait_until(lambda: again == [5, 6, 7], 5, "the group to go on after its commit")


def test_a_handler_that_raises_gets_its_events_again(events_mesh: Make, store: EventStore) -> None:
    _, ev = events_mesh(store)
    calls: list[int] = []

    def flaky(event: Event) -> None:
        calls.append(event.offset)
        if len(calls) == 1:
            raise RuntimeError("not this time")

    ev.subscribe("retry", flaky, group="g")
    ev.publish("retry", "x") & FG
    wait_until(lambda: calls == [0, 0], 5, "the event handed out again")
    wait_until(lambda: ev.committed("g") & FG == {"retry": 1}, 5, "the commit once the handler returned")


def test_patterns_reach_the_topics_they_name_also_ones_created_later(events_mesh: Make, store: EventStore) -> None:
    _, ev = events_mesh(store)
    ev.publish("orders.eu", "old") & FG
    got: list[tuple[str, object]] = []
    ev.subscribe("orders.*", lambda e: got.append((e.topic, e.payload)), group="all-orders")
    for topic in ("orders.eu", "orders.us", "orders", "orders.eu.paid", "refunds.eu"):
        ev.publish(topic, topic) & FG
    wait_until(lambda: len(got) == 3, 5, "the matching events")
    time.sleep(0.2)
    assert sorted(got) == [("orders.eu", "old"), ("orders.eu", "orders.eu"), ("orders.us", "orders.us")]


@pytest.mark.parametrize(
    ("pattern", "topic", "expected"),
    [
        ("orders.*", "orders.eu", True),
        ("orders.*", "orders", False),
        ("orders.*", "orders.eu.paid", False),
        ("*.eu", "orders.eu", True),
        ("orders.>", "orders.eu.paid", True),
        ("orders.>", "orders", False),
        ("orders", "orders", True),
        ("orders", "orders.eu", False),
    ],
)
def test_pattern_matching(pattern: str, topic: str, expected: bool) -> None:
    assert matches(pattern, topic) is expected


def test_retention_by_size_drops_the_oldest_events(events_mesh: Make, tmp_path: Path) -> None:
    _, ev = events_mesh(EventLog(tmp_path, Retention(max_bytes=10_000)))
    for n in range(40):
        ev.publish("sized", b"x" * 1000 + bytes([n])) & FG
    wait_until(lambda: len(list(ev.read("sized") & STREAM)) <= 10, 5, "retention to drop the oldest")
    offsets = [e.offset for e in ev.read("sized") & STREAM]
    assert offsets == list(range(40 - len(offsets), 40))
    assert ev.publish("sized", b"next") & FG == 40


def test_retention_by_age_keeps_the_newest_event(events_mesh: Make, tmp_path: Path) -> None:
    _, ev = events_mesh(EventLog(tmp_path, Retention(max_age=0.5)))
    for n in range(3):
        ev.publish("aged", n) & FG
    wait_until(lambda: [e.offset for e in ev.read("aged") & STREAM] == [2], 5, "the old events to be dropped")
    assert ev.publish("aged", 3) & FG == 3


def test_the_callbacks_are_offered_by_the_hosting_node_only(events_mesh: Make) -> None:
    client, _ = events_mesh()
    offered = {member["name"]: member["callbacks"] for member in client.members()}
    assert {"events.publish", "events.read", "events.subscribe", "events.unsubscribe"} <= set(offered["events"])
    assert not [name for name in offered["client"] if name.startswith("events")]


def test_a_subscription_offers_its_handler_until_closed(events_mesh: Make) -> None:
    client, ev = events_mesh()
    subscription = ev.subscribe("t", print)

    def offered() -> bool:
        return any(subscription.name in m["callbacks"] for m in client.members() if m["name"] == "client")

    wait_until(offered, 5, "the handler to be offered")
    subscription.close()
    subscription.close()
    wait_until(lambda: not offered(), 5, "the handler to be withdrawn")


def test_bad_input_raises_on_the_caller(events_mesh: Make) -> None:
    client, ev = events_mesh()
    with pytest.raises(UsageError, match=r"topic 'orders\.\*': '\*' is not a part of a topic name"):
        ev.publish("orders.*", 1)
    with pytest.raises(UsageError, match="a topic is a str, not int"):
        ev.read(7)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match=r"topic pattern 'a\.>\.b': '>' is not a part of a pattern"):
        ev.subscribe("a.>.b", print)
    with pytest.raises(UsageError, match="the handler must be callable, not str"):
        ev.subscribe("a", "print")  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="a group is a non-empty str, not ''"):
        ev.subscribe("a", print, group="")
    with pytest.raises(SerializationError, match=r"publish to 't': cannot pickle the payload, a generator"):
        ev.publish("t", (n for n in range(3)))
    with pytest.raises(UsageError, match="from_offset must be an int >= 0, not -1"):
        list(ev.read("t", from_offset=-1) & STREAM)
    with pytest.raises(UsageError, match=r"Events prefix is a dotted name such as 'events'.*, not 'bad-prefix'"):
        Events(client, prefix="bad-prefix")
    with pytest.raises(UsageError, match="group 'g' reads 'a'; a member cannot subscribe to 'b'"):
        ev.subscribe("a", print, group="g")
        ev.subscribe("b", print, group="g")


def test_async_code_publishes_reads_and_subscribes_async_handlers(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with Global(process_name="events", init_controller=True) as host:
            served = serve_events(host, EventLog(tmp_path / "log"))
            async with Global(process_name="async-client") as client:
                await client.wait_function("events.publish", timeout=5)
                ev = Events(client)
                got: list[int] = []
                arrived = asyncio.Event()

                async def handle(event: Event) -> None:
                    await asyncio.sleep(0)
                    got.append(event.payload)
                    if len(got) == 3:
                        arrived.set()

                subscription = await ev.subscribe_async("a.*", handle, group="async")
                assert [await (ev.publish("a.b", n) & FG) for n in range(3)] == [0, 1, 2]
                await asyncio.wait_for(arrived.wait(), 10)
                assert got == [0, 1, 2]
                assert [e.payload async for e in ev.read("a.b") & STREAM] == [0, 1, 2]
                await subscription.close_async()
                with pytest.raises(UsageError, match=r"await served.close_async\(\)"):
                    served.close()
            await served.close_async()

    asyncio.run(scenario())


def test_a_node_leaving_after_the_service_closed_is_no_error(
    events_mesh: Make, caplog: pytest.LogCaptureFixture
) -> None:
    _, ev = events_mesh()
    ev.subscribe("t", print, group="g")
    leaving, _ = events_mesh.node("leaving")  # type: ignore[attr-defined]
    events_mesh.served[0].close()  # type: ignore[attr-defined]
    leaving.stop()
    time.sleep(1.0)  # the service node's leave hook runs after the departure is seen
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
