"""The service rows (issue #21): the kv and storage services, each started as ``mesh serve`` runs it,
against its backend used directly from this process in the same run."""

from __future__ import annotations

import shutil
import tempfile

from mesh import Global

from . import _kv, _storage
from ._context import Context, FloodOn
from ._counts import Counts, Transport
from ._proc import Children


def measure(
    g: Global, transport: Transport, counts: Counts, groups: set[str], children: Children, flood_on: FloodOn
) -> dict[str, float]:
    """The rows of the ``kv`` and ``storage`` groups that are selected, in one run."""
    results: dict[str, float] = {}
    folder = tempfile.mkdtemp(prefix="services-", dir=transport.workdir)
    try:
        context = Context(g, transport, counts, children, folder, flood_on)
        if "kv" in groups:
            results.update(_kv.measure(context))
        if "storage" in groups:
            results.update(_storage.measure(context))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return results
