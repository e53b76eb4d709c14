"""Compiled drivers are cached on disk: reused by the next process, never stale,
safe when several processes (MPI ranks) start at once; and NUMBA_DISABLE_JIT
runs kernels as plain Python."""
import json

import pytest

KERNEL = '''
import kkpy

@kkpy.kernel
def scaled(i, x, y):
    y[i] = x[i] * {factor}
'''

# Prints the result and what the driver and kernel dispatchers compiled or
# loaded from the cache in this process.
RUN = """
import json, numpy as np, kkpy, kmod
x, y = np.arange(10.0), np.zeros(10)
kkpy.parallel_for("scale", kkpy.RangePolicy(kkpy.Threads(), 0, 10), kmod.scaled, x, y)
total = y.sum()
drivers = [form[0] for key, form in kmod.scaled.forms.items() if key[0] is True]
stats = [d.stats for d in drivers + [kmod.scaled.host]]
print(json.dumps({"total": total,
                  "misses": sum(sum(s.cache_misses.values()) for s in stats),
                  "hits": sum(sum(s.cache_hits.values()) for s in stats)}))
"""


@pytest.fixture
def cached(tmp_path, run_python):
    """Run RUN in a new process with caches in fresh temporary directories."""
    env = {"KKPY_CACHE_DIR": str(tmp_path / "kkpy-cache"),
           "NUMBA_CACHE_DIR": str(tmp_path / "numba-cache"),
           "cwd": tmp_path, "path": [tmp_path]}

    def write(factor):
        (tmp_path / "kmod.py").write_text(KERNEL.format(factor=factor))

    def run(wait=True):
        if not wait:
            return run_python(RUN, background=True, **env)
        return json.loads(run_python(RUN, **env).stdout)

    return write, run


def test_disk_cache_across_processes(cached):
    write, run = cached
    write("2.0")
    # Two processes start together on an empty cache, like MPI ranks racing
    # to compile the same kernel: both must succeed.
    procs = [run(wait=False) for _ in range(2)]
    for proc in procs:
        out, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err
        assert json.loads(out)["total"] == 90.0
    # The next process loads everything from the cache.
    again = run()
    assert again["total"] == 90.0 and again["misses"] == 0 and again["hits"] >= 1
    # Same file size, new meaning: the cache must not serve the old code.
    write("3.0")
    assert run()["total"] == 135.0


def test_debug_mode_runs_kernels_as_plain_python(tmp_path, run_python):
    (tmp_path / "dbg.py").write_text('''
import numba, numpy as np, kkpy

@kkpy.kernel
def fill(i, x):
    assert not numba.config.DISABLE_JIT or isinstance(i, int)  # plain Python ints
    x[i] = i * i

@kkpy.kernel
def value(i, x):
    return x[i]

@kkpy.kernel
def team(member, x):
    x[member.league_rank()] += member.team_rank() + 1
''')
    proc = run_python("""
        import numpy as np, kkpy, dbg
        x = np.zeros(5)
        kkpy.parallel_for("fill", kkpy.RangePolicy(kkpy.Threads(), 0, 5), dbg.fill, x)
        total = kkpy.parallel_reduce("sum", 5, dbg.value, x)
        loc = kkpy.parallel_reduce("max", 5, dbg.value, x, reducer=kkpy.MaxLoc)
        out = np.zeros(6)
        scan = kkpy.parallel_scan("scan", 5, dbg.value, x, out=out)
        t = np.zeros(3)
        kkpy.parallel_for("team", kkpy.TeamPolicy(3, kkpy.AUTO), dbg.team, t)
        print(x.tolist(), total, loc, scan, out.tolist(), t.tolist())
    """, cwd=tmp_path, path=[tmp_path], NUMBA_DISABLE_JIT="1")
    assert proc.stdout.strip() == ("[0.0, 1.0, 4.0, 9.0, 16.0] 30.0 (16.0, 4) 30.0 "
                                   "[0.0, 0.0, 1.0, 5.0, 14.0, 30.0] [1.0, 1.0, 1.0]")
