"""``double`` as a Huey task; ``notify_result`` lets a caller block on its result instead of polling."""

import os

from huey import RedisHuey

huey = RedisHuey("bench", url=os.environ["BENCH_REDIS_URL"], notify_result=True)


@huey.task()
def double(x: int) -> int:
    return 2 * x
