"""kkpy sets how OpenMP workers wait at import, before any parallel region, and defers to the user."""
import os
import subprocess
import sys

import pytest


def _spin_after_import(module, env):
    code = f"import os, {module}; print(os.environ.get('GOMP_SPINCOUNT'))"
    env = {k: v for k, v in os.environ.items()
           if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")} | env
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, check=True).stdout.strip()


@pytest.mark.parametrize("module", ["kkpy", "kkpy.sparse.io"])
def test_importing_kkpy_sets_the_workers_spin(module):
    from kkpy.core._openmp import OMP_SPIN_COUNT

    assert _spin_after_import(module, {}) == str(OMP_SPIN_COUNT)


@pytest.mark.parametrize("env, want", [({"GOMP_SPINCOUNT": "7"}, "7"),
                                       ({"OMP_WAIT_POLICY": "PASSIVE"}, "None")])
def test_a_users_own_setting_wins(env, want):
    assert _spin_after_import("kkpy", env) == want
