"""``python -m tests._support.run_code -c CODE``: run CODE as a script (a child process for the tests)."""

from __future__ import annotations

import signal
import sys

if __name__ == "__main__":
    assert sys.argv[1] == "-c"
    # As in a terminal, Ctrl-C raises KeyboardInterrupt even when the suite runs as a background job,
    # whose children inherit SIGINT ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    exec(compile(sys.argv[2], "<test child>", "exec"), {"__name__": "__main__"})
