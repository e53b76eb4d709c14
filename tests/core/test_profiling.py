"""Timer, named regions and the KKPY_PROFILE kernel-timer report."""
import time

import numpy as np
import pytest

import kkpy
from kkpy import profiling


def test_timer_measures_and_resets():
    t = kkpy.Timer()
    time.sleep(0.02)
    first = t.seconds()
    assert first >= 0.015
    t.reset()
    assert t.seconds() < first


@pytest.fixture
def kernel_timer():
    was = profiling._timer_enabled
    profiling.reset()
    profiling.enable_kernel_timer()
    yield
    profiling.reset()
    if not was:
        profiling.disable_kernel_timer()


def test_regions_and_launches_are_recorded_by_label(kernel_timer):
    from core_kernels import value

    with profiling.region("outer"):
        profiling.push_region("inner")
        for _ in range(3):
            kkpy.parallel_reduce("sum-x", kkpy.RangePolicy(kkpy.Serial(), 0, 4), value, np.ones(4))
        profiling.pop_region()
    rows = {(r["kind"], r["label"]): r for r in profiling.kernel_timer_report()}
    launch = rows[("parallel_reduce", "sum-x")]
    assert launch["calls"] == 3 and launch["total"] > 0
    assert launch["mean"] == pytest.approx(launch["total"] / 3)
    assert rows[("region", "outer")]["calls"] == 1
    assert rows[("region", "outer")]["total"] >= rows[("region", "inner")]["total"]


def test_pop_without_push_is_an_error():
    with pytest.raises(RuntimeError, match="push_region"):
        profiling.pop_region()


def test_region_closes_on_exceptions():
    depth = len(profiling._regions)
    with pytest.raises(KeyError):
        with profiling.region("failing"):
            raise KeyError
    assert len(profiling._regions) == depth


def test_kkpy_profile_prints_a_report(run_python):
    proc = run_python("""
        import numpy as np, kkpy
        from core_kernels import scaled_copy
        x, y = np.ones(8), np.zeros(8)
        with kkpy.profiling.region("setup"):
            for _ in range(4):
                kkpy.parallel_for("axpy-8", kkpy.RangePolicy(kkpy.Serial(), 0, 8), scaled_copy, x, y, 2.0)
    """, KKPY_PROFILE="1")
    report = proc.stderr.splitlines()
    assert "kkpy kernel timer" in report[0]
    assert report[1].split() == ["kind", "label", "calls", "total", "s", "mean", "s"]
    rows = {line.split()[1]: line.split() for line in report[2:]}
    assert rows["axpy-8"][0] == "parallel_for" and rows["axpy-8"][2] == "4"
    assert rows["setup"][0] == "region" and rows["setup"][2] == "1"
    total, mean = float(rows["axpy-8"][3]), float(rows["axpy-8"][4])
    assert mean == pytest.approx(total / 4, rel=0.01, abs=2e-6)
