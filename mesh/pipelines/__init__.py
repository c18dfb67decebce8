"""Pipelines: the seed's Plumber and Processor, written on anyio with bounded streams.

``Plumber(input_d, coro_map)`` builds a processor per node of the graph dict and joins them with
bounded memory object streams; ``create_pipeline()`` starts it on the running loop, ``await
plumber.run()`` runs it to the end. Built only from the public API of :mod:`mesh`.
"""

from __future__ import annotations

from ._plumber import Pipeline, Plumber
from ._processor import OutputQueue, Processor, ProcessorStatistics

__all__ = ["OutputQueue", "Pipeline", "Plumber", "Processor", "ProcessorStatistics"]
