"""Shared pytest setup: a hypothesis profile for compiled code.

The first example of a property compiles kernels, which can take a second;
``deadline=None`` keeps hypothesis from calling that flaky.  Set
``HYPOTHESIS_PROFILE`` (e.g. ``ci`` or ``thorough``) to choose another profile.
"""
import os
import subprocess
import sys
import textwrap

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

    Keyword arguments are extra environment variables (``None`` removes one;
    ``cwd`` is the working directory, ``path`` folders to put first on
    ``PYTHONPATH``).  Returns the ``subprocess.CompletedProcess``, or with
    ``background=True`` the running ``subprocess.Popen`` at once.
    """
    def run(script, cwd=None, path=(), background=False, **env):
        env = {k: v for k, v in dict(os.environ, **env).items() if v is not None}
        env["PYTHONPATH"] = os.pathsep.join([*map(str, path), *sys.path])
        args = [sys.executable, "-c", textwrap.dedent(script)]
        if background:
            return subprocess.Popen(args, cwd=cwd, env=env, text=True,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, done.stderr
        return done

    return run
