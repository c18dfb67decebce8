"""Celery, RQ, Dramatiq and Huey on a Redis broker, for ``bench/jobs.py`` to compare the jobs service with.

None of them is a dependency of grpcmesh; each runs when it is installed. Each module here defines the
same trivial job, ``double(x)``, as its library wants it, its broker and result store being the Redis
server at ``BENCH_REDIS_URL``.
"""
