"""``double`` for RQ, enqueued by its dotted name."""


def double(x: int) -> int:
    return 2 * x
