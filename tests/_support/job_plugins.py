"""What every job plugin (``JobInterface``) must do with a task that fails and an id it never gave."""

from __future__ import annotations

from typing import Any

import pytest


def check_a_failure_is_kept_and_unknown_ids_raise(jobs: Any) -> None:
    """``jobs``, a ``JobInterface`` plugin: a task that raises keeps its error and is ``failed``; an
    unknown job id raises ``KeyError``."""
    failing = jobs.schedule(int, "not a number")
    with pytest.raises(ValueError, match="invalid literal"):
        jobs.result(failing, timeout=20)
    assert jobs.status(failing) == "failed"
    with pytest.raises(KeyError):
        jobs.status("no-such-job")
