"""Times in the modifiers: numbers, timedelta, datetime and strings; utcnow()'s trap outside UTC."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from mesh import BG, BROADCAST, FG, NO_RETURN, PERIOD, CallTimeout, Global, UsageError, callback

pytestmark = pytest.mark.timeout(60)


def test_durations_as_numbers_timedelta_and_strings() -> None:
    same: list[float | timedelta | str] = [5, 5.0, timedelta(seconds=5), "5s", "5000ms", " 5 s "]
    assert {FG(t).timeout for t in same} == {5.0}
    assert BG(timeout="1m30s", eta="500ms") == BG(timeout=90, eta=0.5)
    assert NO_RETURN(eta=timedelta(milliseconds=250)).eta == 0.25
    assert BROADCAST(timeout="2h").timeout == 7200
    assert FG("1d").timeout == 86400
    assert PERIOD(period="1m").period == 60
    assert PERIOD(period=timedelta(seconds=2)).period == 2


@pytest.mark.parametrize("text", ["5", "five s", "5 parsecs", "", "s", "-5s", "5s!"])
def test_a_string_that_is_no_duration_is_refused_naming_the_forms(text: str) -> None:
    with pytest.raises(UsageError, match="'5s', '1m30s', '500ms', '2h'"):
        FG(timeout=text)


def test_a_datetime_is_the_time_left_until_it() -> None:
    soon = datetime.now(timezone.utc) + timedelta(seconds=30)
    assert 25 < FG(timeout=soon).timeout <= 30  # type: ignore[operator]
    assert 25 < BG(eta=soon).eta <= 30
    naive_local = datetime.now() + timedelta(seconds=30)
    assert 25 < NO_RETURN(eta=naive_local).eta <= 30
    with pytest.raises(UsageError, match="in the past"):
        FG(timeout=datetime.now(timezone.utc) - timedelta(seconds=1))


def test_at_time_takes_timestamps_datetimes_and_durations_from_now() -> None:
    now = time.time()
    times = PERIOD(
        at_time=[now + 10, datetime.now(timezone.utc) + timedelta(seconds=10), datetime.now() + timedelta(seconds=10)]
    ).times
    assert all(now + 9 < t < now + 11 for t in times)
    for relative in (timedelta(seconds=10), "10s"):
        (stamp,) = PERIOD(at_time=relative).times
        assert now + 9 < stamp < now + 11


def test_a_time_in_the_past_names_the_utcnow_trap_and_the_idiom() -> None:
    with pytest.raises(UsageError) as caught:
        PERIOD(at_time=time.time() - 5)
    message = str(caught.value)
    for hint in ("in the past", "datetime.utcnow()", "UTC offset", "time.time() + 3", "datetime.now(timezone.utc)"):
        assert hint in message


def test_calls_keep_their_times_end_to_end() -> None:
    runs: list[float] = []
    ran = threading.Event()

    @callback
    def mark() -> None:
        runs.append(time.monotonic())
        if len(runs) == 3:
            ran.set()

    @callback
    def nap(seconds: float) -> float:
        time.sleep(seconds)
        return seconds

    with Global(process_name="clock", init_controller=True) as g:
        with pytest.raises(CallTimeout):
            g.call.nap(2) & FG(timeout="200ms")
        started = time.monotonic()
        assert g.call.nap(0) & BG(eta=timedelta(milliseconds=300), timeout="5s") is not None
        assert g.call.nap(0.01).bg(eta="300ms").get(5) == 0.01
        assert time.monotonic() - started >= 0.3
        g.call.mark() & PERIOD(at_time=["200ms", timedelta(milliseconds=300), datetime.now() + timedelta(seconds=0.4)])
        assert ran.wait(5)


# The daffi README's idiom, datetime.utcnow().timestamp() + 3, run where local time is not UTC.
_UTCNOW_IDIOM = textwrap.dedent("""
    import warnings
    from datetime import datetime
    from mesh import PERIOD, UsageError

    warnings.simplefilter("error")
    try:
        PERIOD(at_time=datetime.utcnow().timestamp() + 3)
    except (UsageError, RuntimeWarning) as exc:
        print(type(exc).__name__, exc)
    else:
        print("accepted")
""")


def _run_in(tz: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", _UTCNOW_IDIOM],
        capture_output=True,
        text=True,
        timeout=30,
        env={"TZ": tz, "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize(("tz", "offset"), [("Asia/Tokyo", "UTC+09:00"), ("Etc/GMT-3", "UTC+03:00")])
def test_utcnow_east_of_utc_is_refused_as_past_naming_the_offset(tz: str, offset: str) -> None:
    out = _run_in(tz)
    assert out.startswith("UsageError"), out
    assert "in the past" in out and "datetime.utcnow()" in out and offset in out and "time.time() + 3" in out


@pytest.mark.parametrize(("tz", "offset"), [("America/New_York", "UTC-0"), ("Etc/GMT+5", "UTC-05:00")])
def test_utcnow_west_of_utc_warns_instead_of_running_hours_late(tz: str, offset: str) -> None:
    out = _run_in(tz)
    assert out.startswith("RuntimeWarning"), out
    assert "UTC offset" in out and "datetime.utcnow()" in out and offset in out and "time.time() + 3" in out


def test_utcnow_in_utc_is_right_and_accepted() -> None:
    assert _run_in("UTC").strip() == "accepted"
