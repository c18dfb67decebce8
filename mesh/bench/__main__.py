"""``python -m mesh.bench [options]``: run the benchmark suite and print the table."""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
