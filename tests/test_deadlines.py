"""Per-call timeouts on one timer per node (mesh.node._deadlines): never early, at most a tick late, none left."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable

import pytest

from mesh.node._deadlines import STEPS, TICK, Deadlines

pytestmark = pytest.mark.timeout(30)

# How late a deadline may fire on a busy test machine, past the tick it is rounded to.
SCHEDULING_SLACK = 0.5


def _recorder(loop: asyncio.AbstractEventLoop, fired: dict[str, float]) -> Callable[[str], None]:
    """An expiry that notes when each key expired."""

    def expire(key: str) -> None:
        fired[key] = loop.time()

    return expire


def test_a_deadline_fires_after_its_timeout_never_before() -> None:
    async def main() -> float:
        loop = asyncio.get_running_loop()
        deadlines = Deadlines(loop)
        fired: dict[str, float] = {}
        started = loop.time()
        deadlines.add(0.05, "call", _recorder(loop, fired))
        assert len(deadlines) == 1
        await asyncio.sleep(0.05 + TICK + SCHEDULING_SLACK)
        assert len(deadlines) == 0
        return fired["call"] - started

    elapsed = asyncio.run(main())
    assert 0.05 <= elapsed <= 0.05 + TICK + SCHEDULING_SLACK


def test_a_call_settled_before_its_deadline_never_expires() -> None:
    async def main() -> dict[str, float]:
        loop = asyncio.get_running_loop()
        deadlines = Deadlines(loop)
        fired: dict[str, float] = {}
        answered = deadlines.add(0.05, "answered", _recorder(loop, fired))
        deadlines.add(0.05, "late", _recorder(loop, fired))
        # Settled from another thread, as a caller's thread settles a cancelled call.
        threading.Thread(target=answered.pop, args=("answered", None)).start()
        await asyncio.sleep(0.05 + TICK + SCHEDULING_SLACK)
        return fired

    assert set(asyncio.run(main())) == {"late"}


def test_a_shorter_timeout_added_after_a_longer_one_fires_first() -> None:
    async def main() -> tuple[dict[str, float], float]:
        loop = asyncio.get_running_loop()
        deadlines = Deadlines(loop)
        fired: dict[str, float] = {}
        started = loop.time()
        deadlines.add(0.6, "long", _recorder(loop, fired))
        deadlines.add(0.05, "short", _recorder(loop, fired))
        await asyncio.sleep(0.6 + TICK + SCHEDULING_SLACK)
        return fired, started

    fired, started = asyncio.run(main())
    assert fired["short"] - started < 0.6
    assert fired["long"] - started >= 0.6
    assert fired["short"] < fired["long"]


def test_a_long_timeout_is_rounded_to_a_hundredth_of_itself_and_never_early() -> None:
    timeout = 2.0

    async def main() -> tuple[int, float]:
        loop = asyncio.get_running_loop()
        deadlines = Deadlines(loop)
        fired: dict[str, float] = {}
        started = loop.time()
        # Calls made over 50 ms with a 2 s timeout share buckets of timeout / STEPS = 20 ms.
        for index in range(50):
            deadlines.add(timeout, str(index), _recorder(loop, fired))
            await asyncio.sleep(0.001)
        buckets = len(deadlines._buckets)
        await asyncio.sleep(timeout + timeout / STEPS + SCHEDULING_SLACK)
        assert len(fired) == 50
        return buckets, min(fired.values()) - started

    buckets, first = asyncio.run(main())
    assert buckets <= 0.05 / (timeout / STEPS) + 2
    assert first >= timeout


def test_an_expiry_that_raises_is_logged_and_the_others_still_run(caplog: pytest.LogCaptureFixture) -> None:
    def broken(key: str) -> None:
        raise RuntimeError(f"broken expiry of {key}")

    async def main() -> dict[str, float]:
        loop = asyncio.get_running_loop()
        deadlines = Deadlines(loop)
        fired: dict[str, float] = {}
        deadlines.add(0.02, "broken", broken)
        deadlines.add(0.02, "fine", _recorder(loop, fired))
        await asyncio.sleep(0.02 + TICK + SCHEDULING_SLACK)
        return fired

    with caplog.at_level(logging.ERROR, logger="mesh"):
        assert set(asyncio.run(main())) == {"fine"}
    assert "broken expiry" in caplog.text


def test_close_drops_every_deadline_and_the_timer() -> None:
    async def main() -> dict[str, float]:
        loop = asyncio.get_running_loop()
        deadlines = Deadlines(loop)
        fired: dict[str, float] = {}
        deadlines.add(0.02, "call", _recorder(loop, fired))
        deadlines.close()
        assert len(deadlines) == 0
        await asyncio.sleep(0.02 + TICK + SCHEDULING_SLACK)
        return fired

    assert asyncio.run(main()) == {}
