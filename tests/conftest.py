"""Shared pytest setup: a hypothesis profile for compiled code.

The first example of a property compiles kernels, which can take a second;
``deadline=None`` keeps hypothesis from calling that flaky.  Set
``HYPOTHESIS_PROFILE`` (e.g. ``ci`` or ``thorough``) to choose another profile.
"""
import os
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, settings

_SLOW_OK = [HealthCheck.too_slow]

settings.register_profile("kkpy", deadline=None, max_examples=25, suppress_health_check=_SLOW_OK)
settings.register_profile("thorough", deadline=None, max_examples=300,
                          suppress_health_check=_SLOW_OK)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "kkpy"))


@pytest.fixture
def run_python():
    """Run ``script`` in a fresh interpreter; fail the test if it fails.

    Keyword arguments are extra environment variables (``cwd`` is the
    working directory, ``path`` folders to put first on ``PYTHONPATH``).
    Returns the ``subprocess.CompletedProcess``.
    """
    def run(script, cwd=None, path=(), **env):
        env = dict(os.environ, **env)
        env["PYTHONPATH"] = os.pathsep.join([*map(str, path), *sys.path])
        done = subprocess.run([sys.executable, "-c", script], cwd=cwd,
                              env=env, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, done.stderr
        return done

    return run
