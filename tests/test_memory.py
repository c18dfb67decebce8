"""The malloc settings that keep freed memory for large payloads: on by default on glibc, off on request."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.timeout(60)

_PROBE = "from mesh.node._memory import tune_malloc; print(tune_malloc(), tune_malloc())"


def _tuned(env_value: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "MESH_MALLOC_TUNING"}
    if env_value is not None:
        env["MESH_MALLOC_TUNING"] = env_value
    done = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc", reason="glibc's mallopt only"
)
def test_applied_once_by_default_on_glibc() -> None:
    assert _tuned(None) == "True True"


@pytest.mark.parametrize("value", ["0", "off", "False", " no "])
def test_switched_off_by_the_environment(value: str) -> None:
    assert _tuned(value) == "False False"
