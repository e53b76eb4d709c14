"""The distributed engine: row splitting, and real ``mpiexec -n 2`` runs."""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kkpy.dnn._cli import main
from kkpy.dnn._mpi import combine_layer_stats, launcher_size, split_rows


@given(st.lists(st.integers(0, 50), max_size=60), st.integers(1, 8))
def test_split_rows_is_contiguous_and_balanced_by_work(row_nnz, nranks):
    b = split_rows(row_nnz, nranks)
    assert b[0] == 0 and b[-1] == len(row_nnz) and len(b) == nranks + 1
    assert np.all(np.diff(b) >= 0)
    work = np.asarray(row_nnz, np.int64) + 1
    share = [work[b[r]:b[r + 1]].sum() for r in range(nranks)]
    # each block is within one row of an exact share of the work
    target = work.sum() / nranks
    assert max(share, default=0) <= target + (work.max() if work.size else 0)


def test_split_rows_follows_work_not_count():
    b = split_rows([100] * 10 + [0] * 90, 2)
    assert 4 <= b[1] <= 7  # half the work is in the first few rows


def test_launcher_size_and_combining_stats():
    assert launcher_size({"OMPI_COMM_WORLD_SIZE": "3"}) == 3
    assert launcher_size({"PMI_SIZE": ""}) == 1
    a = [{"layer": 1, "active_rows": 1, "nnz": 2, "seconds": 0.1},
         {"layer": 2, "active_rows": 0, "nnz": 0, "seconds": 0.3}]
    assert combine_layer_stats([a, a])[1] == {"layer": 2, "active_rows": 0, "nnz": 0,
                                              "seconds": 0.3}


def _mpiexec():
    exe = shutil.which("mpiexec") or os.path.join(os.path.dirname(sys.executable), "mpiexec")
    if not os.path.exists(exe):
        pytest.skip("mpiexec is not installed (pip install 'kkpy-kokkos[mpi]')")
    pytest.importorskip("mpi4py")
    return exe


def run(ranks, *args, timeout=300, **env):
    """``kkpy-dnn run --quiet --json ARGS`` on ``ranks`` ranks; ``env``: extra variables."""
    cmd = [sys.executable, "-m", "kkpy.dnn", "run", "--quiet", "--json", *args]
    if ranks > 1:
        cmd = [_mpiexec(), "-n", str(ranks), *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, **env))


def one_process(*args):
    """The single-process answer, in this process (saves starting one)."""
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["run", "--quiet", "--json", *args]) == 0
    return json.loads(out.getvalue().splitlines()[-1])


def test_two_ranks_give_the_same_categories_as_one(tmp_path):
    one, two = tmp_path / "one.tsv", tmp_path / "two.tsv"
    r2 = run(2, "--per-layer", "--categories-out", str(two))
    assert r2.returncode == 0, r2.stderr
    j1 = one_process("--per-layer", "--categories-out", str(one))
    j2 = json.loads(r2.stdout.splitlines()[-1])
    assert (j1["ranks"], j2["ranks"]) == (1, 2)
    assert j2["passed"] is True and j2["categories"] == j1["categories"] == 19
    assert two.read_text() == one.read_text()
    assert [s["active_rows"] for s in j2["per_layer"]] == [s["active_rows"] for s in j1["per_layer"]]
    assert [s["nnz"] for s in j2["per_layer"]] == [s["nnz"] for s in j1["per_layer"]]
    assert r2.stdout.count("PASSED") == 1  # only rank 0 reports


def test_two_ranks_read_files(tmp_path):
    from kkpy.dnn._generate import generate

    generate(1024, 4, 60, tmp_path, seed=1, compress=True)  # .gz files too
    one, two = tmp_path / "one.tsv", tmp_path / "two.tsv"
    args = ["--data", str(tmp_path), "--neurons", "1024", "--layers", "4"]
    r2 = run(2, *args, "--categories-out", str(two))
    assert r2.returncode == 0, r2.stderr
    one_process(*args, "--categories-out", str(one))
    assert json.loads(r2.stdout.splitlines()[-1])["images"] == 60
    assert two.read_text() == one.read_text()


def test_two_ranks_sweep_like_one_and_resume_only_with_the_same_ranks(tmp_path):
    """``mpiexec -n 2 kkpy-dnn sweep`` over a one-process table: the network is
    run again (other ranks), rank 0 alone writes the table, and its
    categories equal one process's and pass the scipy check."""
    def sweep(ranks):
        cmd = [sys.executable, "-m", "kkpy.dnn", "sweep", "--networks", "1024x3",
               "--images", "48", "--check-rows", "48", "--threads", "1", "--out", str(tmp_path)]
        if ranks > 1:
            cmd = [_mpiexec(), "-n", str(ranks), *cmd]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        with open(tmp_path / "sweep.json") as f:
            return r, json.load(f)["networks"]

    _, one = sweep(1)
    r2, two = sweep(2)
    assert "skipped" not in r2.stderr
    assert r2.stdout.count("1024 x 3") == 1  # rank 0 alone prints the table
    assert (one[0]["ranks"], two[0]["ranks"]) == (1, 2)
    assert one[0]["check"] is True and two[0]["check"] is True
    assert two[0]["categories"] == one[0]["categories"]


def test_a_failing_rank_ends_the_job_with_a_message(tmp_path):
    (tmp_path / "neuron1024").mkdir()
    r = run(2, "--data", str(tmp_path), "--neurons", "1024", "--layers", "2", timeout=120)
    assert r.returncode == 2
    assert "n1024-l1.tsv" in r.stderr and "Traceback" not in r.stderr


def _needs_numba_cuda():
    from kkpy.core._cuda_testing import cuda_test_mode

    if cuda_test_mode() == "skip":
        pytest.skip("numba-cuda is not installed")


def test_two_ranks_on_the_cuda_space_in_the_simulator(tmp_path):
    """``mpiexec -n 2 kkpy-dnn run --space cuda`` under numba's CUDA simulator.

    What it checks: both ranks build a Cuda space, upload their share of the
    rows and the network, run the GPU chain and the GPU categories, and
    together find exactly the host's categories; the ranks agree on the
    network (their digest of it runs on the host: the layers live there);
    each rank reports the device it took.  What it cannot check: the
    simulator has one fake device, so both ranks take device 0 and nothing
    here shows ranks spreading over several GPUs (the unit test below checks
    that rule), nor real GPU memory, streams or timing.
    """
    _needs_numba_cuda()
    from kkpy.dnn._generate import generate

    # 128 neurons, 6 layers, 24 images: some images die on the way (11 categories), and
    # the simulator runs it in seconds; the embedded 120-layer problem would take minutes.
    generate(128, 6, 24, tmp_path, seed=1)
    one, two = tmp_path / "one.tsv", tmp_path / "two.tsv"
    args = ["--data", str(tmp_path), "--neurons", "128", "--layers", "6"]
    r2 = run(2, *args, "--space", "cuda", "--categories-out", str(two), NUMBA_ENABLE_CUDASIM="1")
    assert r2.returncode == 0, r2.stderr
    j1 = one_process(*args, "--space", "serial", "--categories-out", str(one))
    j2 = json.loads(r2.stdout.splitlines()[-1])
    assert (j2["ranks"], j2["space"], j2["images"]) == (2, "cuda", 24)
    assert 0 < j2["categories"] == j1["categories"] < 24
    assert two.read_text() == one.read_text()
    assert j2["devices"] == [0, 0]          # local rank % one simulated GPU, on both ranks
    assert "devices" not in j1              # host runs have no device to report


class _Node:
    """Stands in for a node's MPI communicator: only its local rank is asked."""

    def __init__(self, local_rank):
        self.local_rank = local_rank


@pytest.mark.parametrize("ngpus", [1, 2, 3, 4])
def test_each_rank_takes_its_node_local_rank_modulo_the_gpus(monkeypatch, ngpus):
    # make_space's rule without MPI or a GPU: the node-local rank and the GPU count are
    # stood in for, and kkpy.Cuda records the device it is asked for.
    _needs_numba_cuda()
    import numba.cuda

    import kkpy
    from kkpy.dnn import _engine, _mpi

    monkeypatch.setattr(_mpi, "local_rank", lambda comm: comm.local_rank)
    monkeypatch.setattr(numba.cuda, "gpus", [object()] * ngpus, raising=False)
    monkeypatch.setattr(kkpy, "Cuda", lambda device_id=0: ("cuda", device_id))
    taken = [_engine.make_space("cuda", comm=_Node(r))[1] for r in range(8)]
    assert taken == [r % ngpus for r in range(8)]
    # every GPU of the node gets ranks, and none gets two more than another
    counts = np.bincount(taken, minlength=ngpus)
    assert counts.min() >= 1 and counts.max() - counts.min() <= 1
    # without MPI the process takes the default device (kkpy.space_from_name's Cuda)
    monkeypatch.setattr(kkpy, "space_from_name", lambda name: (name, 0))
    assert _engine.make_space("cuda") == ("cuda", 0)
