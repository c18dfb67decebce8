"""``python -m tests._support.run_code -c CODE``: run CODE as a script (a child process for the tests)."""

from __future__ import annotations

import sys

if __name__ == "__main__":
    assert sys.argv[1] == "-c"
    exec(compile(sys.argv[2], "<test child>", "exec"), {"__name__": "__main__"})
