"""``double`` as a Celery task; results in Redis."""

import os

from celery import Celery

app = Celery("bench", broker=os.environ["BENCH_REDIS_URL"], backend=os.environ["BENCH_REDIS_URL"])


@app.task
def double(x: int) -> int:
    return 2 * x
