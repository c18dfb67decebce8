"""Run the benchmark from a checkout: ``python bench/run.py [options]`` (the same as ``mesh bench``)."""

from __future__ import annotations

import sys

from mesh.bench.cli import main

if __name__ == "__main__":
    sys.exit(main())
