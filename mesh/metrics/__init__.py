"""Prometheus metrics of the mesh (the ``grpcmesh[metrics]`` extra): a node's own endpoint,
:func:`serve_metrics`, and :func:`render`, the text of any nodes' ``mesh.stats`` snapshots (the
dashboard serves all the nodes' at ``/metrics``). See docs/metrics.md."""

from ._render import render as render
from ._serve import MetricsServer as MetricsServer
from ._serve import serve_metrics as serve_metrics

__all__ = ["MetricsServer", "render", "serve_metrics"]
