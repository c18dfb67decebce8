"""The allocator settings of the benchmark's own processes: the mesh's, as every node applies them.

A node applies ``mesh/node/_memory.py``'s malloc settings when it starts, and they make a 1 MiB message
cheaper for raw gRPC too (bench/README.md). So the caller process and the raw echo
server apply them from the start: the baseline then differs from the mesh by the mesh's design
alone, and the first run's raw rows are measured like the later ones'. ``MESH_MALLOC_TUNING=0``
runs every process on the C library's defaults.
"""

from __future__ import annotations

from mesh.node._memory import tune_malloc

MESH = "the mesh's settings (mesh/node/_memory.py)"
DEFAULTS = "the C library's defaults"


def apply() -> str:
    """Apply the mesh's malloc settings to this process (once) and say which settings are in force."""
    return MESH if tune_malloc() else DEFAULTS
