"""``python -m controller [--host H] [--port P]``: a standalone controller."""

from __future__ import annotations

import sys

from mesh.cli import main

if __name__ == "__main__":
    sys.exit(main(["controller", *sys.argv[1:]]))
