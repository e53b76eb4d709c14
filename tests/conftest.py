"""Shared pytest setup: a hypothesis profile for compiled code.

The first example of a property compiles kernels, which can take a second;
``deadline=None`` keeps hypothesis from calling that flaky.  Set
``HYPOTHESIS_PROFILE`` (e.g. ``ci`` or ``thorough``) to choose another profile.
"""
import os

from hypothesis import HealthCheck, settings

_SLOW_OK = [HealthCheck.too_slow]

settings.register_profile("kkpy", deadline=None, max_examples=25, suppress_health_check=_SLOW_OK)
settings.register_profile("thorough", deadline=None, max_examples=300,
                          suppress_health_check=_SLOW_OK)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "kkpy"))
