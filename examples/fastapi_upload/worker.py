"""A worker of the upload example: a node that runs the tasks the jobs service hands it (``serve_tasks``)
until Ctrl-C or SIGTERM. ``--host H --port P`` joins the controller there (default: this machine's)."""

import argparse
import signal
import threading

from mesh import Global
from mesh.plugins import serve_tasks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host")
    parser.add_argument("--port", type=int)
    options = parser.parse_args()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with Global(process_name="upload-worker", host=options.host, port=options.port) as g:
        serve_tasks(g)
        print(f"worker ready: node {g.process_name}", flush=True)
        stop.wait()


if __name__ == "__main__":
    main()
