"""The grpcmesh benchmark suite: ``python -m mesh.bench`` or ``mesh bench``.

Each run starts real processes on loopback (TCP) or UNIX sockets: a raw ``grpc.aio`` echo server as
the baseline, mesh callee nodes, and optionally callees of daffi 2.2.1, Pyro5 and RPyC when they are
installed. Every row is reported as the median of the runs and as its ratio to a baseline measured
in the same run. See ``bench/README.md``.
"""
