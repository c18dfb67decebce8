"""Bad input on the ``Connect`` stream, fuzzed with hypothesis against a real node process.

Raw bytes reach the node unparsed through a channel whose serializer passes bytes through. Every case
opens its own stream: random bytes, malformed frames, a wrong protocol version, a second Hello,
unknown message kinds, envelopes before the Hello or the proof, oversized messages, and, after a
genuine handshake, random frames from an authenticated peer. Afterwards the node is still up, answers
well-formed calls, and has logged exactly one line per refused link.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mesh import FG, Global
from mesh.node._linking import PROTOCOL_VERSION
from mesh.wire._proto import mesh_pb2 as pb
from mesh.wire._security import DIALLER, new_nonce, proof
from tests._support.proc import Proc

SECRET = b"fuzz-secret"
MAX_MESSAGE_SIZE = 64 * 1024
# The node accepts messages up to max_message_size plus 1 MiB of envelope (mesh.wire._transport).
OVERSIZED = MAX_MESSAGE_SIZE + 1024 * 1024 + 1
CASES_PER_EXAMPLE = 50
EXAMPLES = 200
TOTAL_CASES = CASES_PER_EXAMPLE * EXAMPLES
REFUSED = "refused a link from"
REFUSAL_CODES = {grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.UNAUTHENTICATED}


# ---------------------------------------------------------------------- strategies

texts = st.text(max_size=16)
blobs = st.binary(max_size=64)
uint32 = st.integers(0, 2**32 - 1)
uint64 = st.integers(0, 2**64 - 1)

hellos = st.builds(
    pb.Hello,
    node_id=texts,
    node_name=texts,
    mesh_name=st.sampled_from(["default", "other", ""]),
    protocol_version=st.one_of(st.just(PROTOCOL_VERSION), uint32),
    callbacks=st.lists(texts, max_size=3),
    address=texts,
    nonce=blobs,
    proof=blobs,
)
calls = st.builds(
    pb.Call,
    name=st.one_of(st.sampled_from(["echo", "add", "whoami"]), texts),
    args=blobs,
    buffer_count=st.integers(0, 3),
    flags=uint32,
    timeout=st.floats(),
    schedule=st.one_of(
        st.none(), st.builds(pb.Schedule, at_time=st.lists(st.floats(), max_size=2), period=st.floats())
    ),
)
bodies = st.one_of(
    hellos.map(lambda m: {"hello": m}),
    calls.map(lambda m: {"call": m}),
    st.builds(pb.Result, value=blobs, buffer_count=st.integers(0, 3), dill=st.booleans()).map(lambda m: {"result": m}),
    st.builds(pb.Error, type=texts, message=texts, pickled=blobs, kind=st.integers(0, 2**31 - 1)).map(
        lambda m: {"error": m}
    ),
    st.just({"cancel": pb.Cancel()}),
    st.builds(pb.Offer, callbacks=st.lists(texts, max_size=3)).map(lambda m: {"offer": m}),
    st.builds(pb.Auth, proof=blobs, accepted=st.booleans()).map(lambda m: {"auth": m}),
    st.just({}),  # an envelope of no kind at all
)
envelopes = st.builds(lambda id_, body: pb.Envelope(id=id_, **body).SerializeToString(), uint64, bodies)


def _field(number: int, data: bytes) -> bytes:
    """A length-delimited protobuf field."""
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        out.append(value & 0x7F | (0x80 if value > 0x7F else 0))
        value >>= 7
        if not value:
            return bytes(out)


# An envelope whose body is a field this protocol version does not know (as a newer peer might send).
unknown_kinds = st.builds(lambda number, data: _field(number, data), st.integers(9, 2000), blobs)
# Blobs (field 2) go before the envelopes, as nodes write them, and after, as protobuf itself would.
frames = st.builds(
    lambda before, items, after: b"".join(
        [*(_field(2, b) for b in before), *(_field(1, i) for i in items), *(_field(2, b) for b in after)]
    ),
    st.lists(blobs, max_size=2),
    st.lists(st.one_of(envelopes, unknown_kinds), max_size=4),
    st.lists(blobs, max_size=2),
)
raw = st.binary(max_size=200)
messages = st.one_of(frames, raw)


def _frame(**body: Any) -> bytes:
    """A well-formed frame of one envelope."""
    return pb.Frame(items=[pb.Envelope(**body)]).SerializeToString()


def _hello(version: int = PROTOCOL_VERSION) -> bytes:
    """A Hello that passes the node's checks (unless ``version`` is wrong), with a fresh node id and nonce."""
    return _frame(
        hello=pb.Hello(
            node_id=uuid.uuid4().hex, node_name="fuzz", mesh_name="default", protocol_version=version, nonce=new_nonce()
        )
    )


@dataclass(frozen=True)
class Case:
    """Messages to write on one stream; ``authenticated`` cases first do a genuine handshake."""

    messages: list[bytes]
    authenticated: bool = False


valid_hellos = st.builds(_hello)
wrong_versions = uint32.filter(lambda v: v != PROTOCOL_VERSION).map(_hello)
wrong_proofs = st.one_of(blobs, st.binary(min_size=32, max_size=32)).map(lambda p: _frame(auth=pb.Auth(proof=p)))
cases = st.one_of(
    # Anything at all as the first messages: random bytes, random frames, nothing.
    st.lists(messages, max_size=3).map(Case),
    # A Hello of the wrong protocol version, then anything.
    st.builds(lambda hello, rest: Case([hello, *rest]), wrong_versions, st.lists(messages, max_size=2)),
    # A good Hello, then anything but the valid proof: a Call or other envelope before the proof,
    # unknown kinds, random bytes, or nothing; a second Hello; a wrong proof.
    st.builds(lambda hello, rest: Case([hello, *rest]), valid_hellos, st.lists(messages, max_size=3)),
    valid_hellos.map(lambda hello: Case([hello, hello])),
    st.builds(lambda hello, auth: Case([hello, auth]), valid_hellos, wrong_proofs),
    # After a genuine handshake: random frames and bytes from an authenticated peer.
    st.lists(messages, min_size=1, max_size=3).map(lambda m: Case(m, authenticated=True)),
)


# ---------------------------------------------------------------------- sending


def _connect(channel: grpc.aio.Channel) -> grpc.aio.StreamStreamCall:
    method = channel.stream_stream("/mesh.v1.Mesh/Connect", request_serializer=bytes, response_deserializer=bytes)
    return method()


async def _handshake(stream: grpc.aio.StreamStreamCall) -> None:
    """The genuine dialler's handshake, with the node's secret."""
    hello = _hello()
    await stream.write(hello)
    ours = pb.Frame.FromString(hello).items[0].hello.nonce
    theirs = pb.Frame.FromString(await stream.read()).items[0].hello.nonce
    await stream.write(_frame(auth=pb.Auth(proof=proof(SECRET, DIALLER, ours, theirs))))
    assert pb.Frame.FromString(await stream.read()).items[0].auth.accepted


async def _send(channel: grpc.aio.Channel, case: Case) -> tuple[grpc.StatusCode, str]:
    """Play ``case`` on a new stream and return how the node ended it."""
    stream = _connect(channel)
    if case.authenticated:
        await _handshake(stream)
    try:
        for message in case.messages:
            await stream.write(message)
        await stream.done_writing()
    except (grpc.aio.AioRpcError, asyncio.InvalidStateError):
        pass  # the node ended the stream first
    try:
        while (reply := await stream.read()) is not grpc.aio.EOF:
            if not case.authenticated:
                # Before a valid proof, the node sends only its Hello.
                assert [e.WhichOneof("body") for e in pb.Frame.FromString(reply).items] == ["hello"]
    except grpc.aio.AioRpcError as exc:
        return exc.code(), exc.details() or ""
    return await stream.code(), await stream.details()


async def _send_all(channel: grpc.aio.Channel, batch: list[Case]) -> list[tuple[grpc.StatusCode, str]]:
    return await asyncio.wait_for(asyncio.gather(*(_send(channel, case) for case in batch)), 30)


def _lost_race(code: grpc.StatusCode, details: str) -> bool:
    """The client's own gRPC core reports INTERNAL when the node's refusal ends the stream while the
    client is still writing; the node's log line (counted below) shows the refusal all the same."""
    return code == grpc.StatusCode.INTERNAL and details == "Internal error from Core"


# ---------------------------------------------------------------------- the test


async def _open(address: str) -> grpc.aio.Channel:
    return grpc.aio.insecure_channel(address)


@pytest.fixture
def fuzz_loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def _wait_count(proc: Proc, text: str, expected: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while True:
        found = sum(text in line for line in proc.output)
        if found >= expected or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_fuzzed_connect_streams_are_refused_and_the_node_stays_up(
    spawn: Callable[..., Proc], fuzz_loop: asyncio.AbstractEventLoop
) -> None:
    proc = spawn(
        "--name", "target", "--controller", "--secret", SECRET.decode(), "--max-message-size", str(MAX_MESSAGE_SIZE)
    )
    address = proc.wait_line("READY").split()[1]
    channel = fuzz_loop.run_until_complete(_open(address))  # created on the loop that uses it
    sent = {"refusable": 0, "authenticated": 0}

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
    )
    @given(st.lists(cases, min_size=CASES_PER_EXAMPLE, max_size=CASES_PER_EXAMPLE))
    def fuzz(batch: list[Case]) -> None:
        codes = fuzz_loop.run_until_complete(_send_all(channel, batch))
        for case, code in zip(batch, codes, strict=True):
            if case.authenticated:
                sent["authenticated"] += 1
            else:
                sent["refusable"] += 1
                assert code[0] in REFUSAL_CODES or _lost_race(*code), (case, code)

    try:
        fuzz()
        oversized = [Case([b"\0" * OVERSIZED]), Case([_hello(), b"\0" * OVERSIZED])]
        codes = fuzz_loop.run_until_complete(_send_all(channel, oversized))
        assert {code for code, _ in codes} == {grpc.StatusCode.RESOURCE_EXHAUSTED}, codes
        sent["refusable"] += len(oversized)
    finally:
        fuzz_loop.run_until_complete(channel.close())

    assert sum(sent.values()) >= TOTAL_CASES
    assert proc.popen.poll() is None, "the node died:\n" + proc.text()
    with Global(process_name="checker", secret=SECRET, discovery=False) as g:
        assert g.call.add(2, 3) & FG == 5
        assert g.call.whoami() & FG == "target"
    refused = _wait_count(proc, REFUSED, sent["refusable"], 20)
    time.sleep(0.5)
    assert sum(REFUSED in line for line in proc.output) == refused == sent["refusable"], sent
    assert "Traceback" not in proc.text()
