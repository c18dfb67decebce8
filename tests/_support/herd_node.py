"""A light node for the herd test: ``python -m tests._support.herd_node NAME PORT``.

It joins the controller on 127.0.0.1:PORT with the default start timeout, offers ``herd_name``, prints
``READY`` and serves until killed. One worker thread and one inline callback keep the process small.
"""

from __future__ import annotations

import sys

from mesh import Global, callback

NAME = sys.argv[1]


@callback(inline=True)
def herd_name() -> str:
    return NAME


def main() -> None:
    g = Global(process_name=NAME, host="127.0.0.1", port=int(sys.argv[2]), max_workers=1)
    print("READY", flush=True)
    g.join()


if __name__ == "__main__":
    main()
