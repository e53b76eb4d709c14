"""Execution spaces, initialize/finalize/ScopeGuard and the environment variables."""
import numba
import pytest

import kkpy


@pytest.fixture
def fresh():
    """Leave kkpy's global configuration as the test found it (uninitialised)."""
    kkpy.finalize()
    yield
    kkpy.finalize()


def test_serial_and_threads_concurrency():
    assert kkpy.Serial().concurrency() == 1
    assert kkpy.Threads(1).concurrency() == 1
    assert kkpy.Threads().concurrency() == numba.config.NUMBA_NUM_THREADS
    assert kkpy.Serial().memory_space is kkpy.HostSpace
    assert kkpy.Threads().memory_space == kkpy.HostSpace


@pytest.mark.parametrize("n", [0, -1, 10**6])
def test_threads_refuses_impossible_counts(n):
    with pytest.raises(ValueError, match="num_threads"):
        kkpy.Threads(n)


def test_spaces_compare_by_kind_and_threads():
    assert kkpy.Serial() == kkpy.Serial() and hash(kkpy.Serial()) == hash(kkpy.Serial())
    assert kkpy.Threads(1) == kkpy.Threads(1) != kkpy.Serial()
    assert kkpy.HostSpace != kkpy.CudaSpace  # the memory space a Cuda space will use


def test_space_from_name():
    assert kkpy.space_from_name("SERIAL") == kkpy.Serial()
    assert kkpy.space_from_name("threads", num_threads=1) == kkpy.Threads(1)
    with pytest.raises(ValueError, match="unknown execution space 'openmp'"):
        kkpy.space_from_name("openmp")


def test_initialize_and_finalize(fresh):
    assert not kkpy.is_initialized()
    kkpy.initialize(num_threads=1, default_space="serial")
    assert kkpy.is_initialized() and kkpy.DefaultExecutionSpace() == kkpy.Serial()
    assert kkpy.Threads().concurrency() == 1  # the default thread count
    assert kkpy.fence() is None
    kkpy.finalize()
    assert not kkpy.is_initialized()
    assert kkpy.DefaultExecutionSpace() == kkpy.Threads()  # initialises itself on use


def test_scope_guard(fresh):
    with kkpy.ScopeGuard(default_space=kkpy.Serial()) as guard:
        assert isinstance(guard, kkpy.ScopeGuard)
        assert kkpy.DefaultExecutionSpace() == kkpy.Serial()
        assert kkpy.DefaultHostExecutionSpace() == kkpy.Serial()
    assert not kkpy.is_initialized()


def test_initialize_refuses_bad_thread_counts(fresh):
    with pytest.raises(ValueError, match="num_threads=0"):
        kkpy.initialize(num_threads=0)


def test_environment_chooses_space_and_threads(run_python):
    out = run_python("""
        import kkpy
        print(kkpy.DefaultExecutionSpace(), kkpy.Threads().concurrency())
    """, KKPY_DEFAULT_SPACE="serial", KKPY_NUM_THREADS="1").stdout.split()
    assert out == ["kkpy.Serial()", "1"]


def test_bad_environment_is_a_one_line_error(run_python):
    proc = run_python("""
        import kkpy
        for env in ({"KKPY_NUM_THREADS": "many"}, {"KKPY_DEFAULT_SPACE": "gpu9"}):
            import os
            os.environ.update(env)
            try:
                kkpy.initialize()
            except ValueError as err:
                print(err)
            os.environ.pop(next(iter(env)))
    """, KKPY_NUM_THREADS=None, KKPY_DEFAULT_SPACE=None)
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 2
    assert "KKPY_NUM_THREADS='many' is not an integer" in lines[0]
    assert "KKPY_DEFAULT_SPACE='gpu9': unknown execution space 'gpu9'" in lines[1]


def test_initialize_takes_kokkos_command_line_options():
    args = ["prog", "--kokkos-num-threads=1", "--kokkos-default-space=serial", "data.mtx"]
    kkpy.initialize(args)
    try:
        assert args == ["prog", "data.mtx"]
        assert kkpy.DefaultExecutionSpace() == kkpy.Serial()
        assert kkpy.Threads().concurrency() == 1
    finally:
        kkpy.finalize()
    for bad, message in (["--kokkos-numthreads=2"], "unknown"), (["--kokkos-threads=x"], "integer"):
        with pytest.raises(ValueError, match=message):
            kkpy.initialize(argv=bad)
