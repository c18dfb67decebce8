"""``double`` as a Dramatiq actor, with the Results middleware on Redis."""

import os

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.results import Results
from dramatiq.results.backends import RedisBackend

broker = RedisBroker(url=os.environ["BENCH_REDIS_URL"])
broker.add_middleware(Results(backend=RedisBackend(url=os.environ["BENCH_REDIS_URL"])))
dramatiq.set_broker(broker)


@dramatiq.actor(store_results=True)
def double(x: int) -> int:
    return 2 * x
