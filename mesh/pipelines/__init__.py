"""Pipelines: the seed's Plumber and Processor, written on anyio with bounded streams.

``Plumber(input_d, coro_map)`` builds a processor per node of the graph dict and joins them with
bounded memory object streams; ``create_pipeline()`` starts it on the running loop, ``await
plumber.run()`` runs it to the end. A node may run on another mesh node (``'node': 'w1'``), served
there with :func:`serve_processor`. Built only from the public API of :mod:`mesh`.
"""

from __future__ import annotations

from ._host import RemoteSelf, serve_processor
from ._plumber import Pipeline, Plumber
from ._processor import OutputQueue, Processor, ProcessorStatistics
from ._remote import RemoteProcessor

__all__ = [
    "OutputQueue",
    "Pipeline",
    "Plumber",
    "Processor",
    "ProcessorStatistics",
    "RemoteProcessor",
    "RemoteSelf",
    "serve_processor",
]
