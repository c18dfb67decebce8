"""Logs that carry the node name: ``mesh controller -v`` and ``mesh serve ... -v`` (readable or JSON lines),
and a node's one line when the controller goes and one when it is back (real processes)."""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from mesh import Global, configure_logging
from tests._support.proc import Proc, free_port
from tests._support.serve import mesh_serve
from tests._support.workers import wait_until

LOST = "lost the controller at"
BACK = "rejoined the controller at"


def start_controller(spawn: Callable[..., Proc], port: int) -> Proc:
    ctl = spawn("controller", "-v", "--host", "127.0.0.1", "--port", str(port), module="mesh")
    ctl.wait_line("controller listening on")
    return ctl


def json_lines(proc: Proc) -> list[dict[str, str]]:
    return [json.loads(line) for line in proc.text().splitlines() if line.startswith("{")]


@pytest.mark.timeout(90)
def test_the_live_logs_name_their_node_and_say_once_that_the_controller_went_and_once_that_it_came_back(
    spawn: Callable[..., Proc], tmp_path: Path
) -> None:
    port = free_port()
    ctl = start_controller(spawn, port)
    readable = mesh_serve(spawn, "kv", port, "--path", str(tmp_path / "a.db"), "-v", name="kv-a")
    structured = mesh_serve(spawn, "kv", port, "--path", str(tmp_path / "b.db"), "-v", "--log-json", name="kv-b")

    # The controller's live log: its joins, each line with the node "controller".
    wait_until(lambda: "member joined: kv-b" in ctl.text(), 10, "the controller logs the join")
    joined = [line for line in ctl.text().splitlines() if "member joined: kv-a" in line]
    assert len(joined) == 1 and " INFO    controller mesh.controller: " in joined[0], ctl.text()
    # A node's live log: the member that joined after it, on a line naming the node.
    wait_until(lambda: "member kv-b joined" in readable.text(), 10, "kv-a logs kv-b's join")
    (line,) = [line for line in readable.text().splitlines() if "member kv-b joined" in line]
    assert " INFO    kv-a mesh: node kv-a: member kv-b joined" in line, line

    os.kill(ctl.pid, signal.SIGKILL)
    ctl.popen.wait(10)
    for proc in (readable, structured):
        wait_until(lambda proc=proc: LOST in proc.text(), 10, "the controller's loss logged")
    # The outage goes on for a while: retries stay quiet.
    time.sleep(2.0)
    start_controller(spawn, port)
    for proc in (readable, structured):
        wait_until(lambda proc=proc: BACK in proc.text(), 20, "the rejoin logged")
    time.sleep(1.0)
    assert readable.text().count(LOST) == 1 and readable.text().count(BACK) == 1, readable.text()
    (lost,) = [line for line in readable.text().splitlines() if LOST in line]
    assert " WARNING kv-a mesh: " in lost, lost

    entries = json_lines(structured)
    assert [e["message"].split(" (")[0] for e in entries if LOST in e["message"]] == [
        f"node kv-b: {LOST} 127.0.0.1:{port}"
    ], entries
    assert len([e for e in entries if BACK in e["message"]]) == 1, entries
    assert {e["node"] for e in entries} == {"kv-b"} and {e["level"] for e in entries} >= {"INFO", "WARNING"}


@pytest.mark.timeout(30)
def test_records_name_the_running_node_unless_told_another() -> None:
    stream = io.StringIO()
    handler = configure_logging(logging.INFO, json_lines=True, stream=stream)
    try:
        with Global(process_name="here", init_controller=True):
            logging.getLogger("mesh").info("hello")
            logging.getLogger("mesh").info("explicit", extra={"node": "elsewhere"})
        logging.getLogger("mesh").info("after")
    finally:
        logging.getLogger("mesh").removeHandler(handler)
        logging.getLogger("mesh").setLevel(logging.NOTSET)
    entries = {e["message"]: e for e in map(json.loads, stream.getvalue().splitlines())}
    assert entries["hello"]["node"] == "here" and entries["hello"]["logger"] == "mesh"
    assert entries["explicit"]["node"] == "elsewhere"
    assert entries["after"]["node"] == "-"
