"""``kkpy-dnn bench``: the peers agree with kkpy and the JSON reports every figure."""
import json

import numpy as np
import pytest
import scipy.sparse as sp

from kkpy.dnn import _data
from kkpy.dnn._cli import main
from kkpy.dnn._peers import graphblas_available, graphblas_infer, graphblas_prepare, scipy_infer


def test_bench_json_reports_each_implementation(capsys):
    code = main(["bench", "--layers", "6", "--images", "150", "--repeat", "1", "--json"])
    out = capsys.readouterr().out.strip().splitlines()
    res = json.loads(out[-1])
    assert code == 0
    assert res["agree"] is True and res["images"] == 150 and res["layers"] == 6
    assert res["edges"] == 6 * 1024 * 32
    for name, r in res["results"].items():
        assert r["seconds"] > 0 and r["peak_bytes"] >= 0
        assert r["edges_per_second"] == pytest.approx(150 * res["edges"] / r["seconds"])
    assert "scipy" in res["results"]
    assert ("graphblas" in res["results"]) == graphblas_available()


def test_bench_repeats_the_real_rows_with_their_truth(capsys):
    # 2400 images = the 1200 real rows twice; the truth repeats with them
    code = main(["bench", "--images", "2400", "--repeat", "1", "--peers", "", "--json"])
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0 and res["passed"] is True and res["distinct"] is False
    assert res["results"]["kkpy"]["categories"] == 2 * 19


def test_bench_distinct_rows_shift_the_real_ones_and_check_them(capsys):
    # past 1200 the rows are shifted copies, not repeats: scipy checks them
    # all, the truth its first 1200, and they find other categories than 2 x 19
    code = main(["bench", "--images", "2400", "--distinct", "--layers", "120", "--repeat", "1",
                 "--peers", "scipy", "--json"])
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0 and res["passed"] is True and res["agree"] is True
    assert res["distinct"] is True and res["images"] == 2400
    from kkpy.dnn._generate import synthetic_images

    (_, Y), = synthetic_images(1024, 2400, chunk=2400)
    assert len({Y[[i]].indices.tobytes() for i in range(2400)}) > 2000   # few repeats
    assert main(["bench", "--distinct", "--generate", "--neurons", "64", "--layers", "2"]) == 2
    assert "embedded problem only" in capsys.readouterr().err


def test_bench_rejects_bad_arguments(capsys):
    assert main(["bench", "--space", "serial", "--neurons", "4096"]) == 2
    assert "embedded" in capsys.readouterr().err
    assert main(["bench", "--generate", "--data", "x", "--neurons", "64", "--layers", "2"]) == 2
    assert "choose one" in capsys.readouterr().err
    assert main(["bench", "--generate", "--neurons", "1000", "--layers", "2"]) == 2
    assert "16 * 2**k" in capsys.readouterr().err
    assert main(["bench", "--generate", "--neurons", "64"]) == 2
    assert "--layers" in capsys.readouterr().err
    for option in ("--seed", "--check-rows"):
        with pytest.raises(SystemExit) as exit_:
            main(["bench", "--generate", "--neurons", "64", "--layers", "2", option, "-1"])
        assert exit_.value.code == 2 and option in capsys.readouterr().err


def test_bench_generates_a_network_and_checks_rows_against_scipy(capsys):
    code = main(["bench", "--generate", "--neurons", "64", "--layers", "4", "--images", "200",
                 "--seed", "3", "--check-rows", "60", "--peers", "scipy", "--repeat", "1",
                 "--space", "serial", "--json"])
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0 and res["agree"] is True
    assert res["checked"] == {"rows": 60, "match": True}
    assert res["images"] == 200 and res["edges"] == 4 * 64 * 32
    assert res["data"] == "generated, seed 3" and res["passed"] is None
    assert res["distinct"] is True


def test_scipy_peer_matches_the_truth():
    layers, Y, truth, bias, n = _data.load_embedded()
    Ys = [W.to_scipy() if hasattr(W, "to_scipy") else W for W in layers]
    Y0 = Y.to_scipy() if hasattr(Y, "to_scipy") else Y
    out = scipy_infer(sp.csr_array(Y0), Ys, bias)
    assert np.array_equal(np.flatnonzero(out.sum(axis=1)), np.asarray(truth))


@pytest.mark.skipif(not graphblas_available(), reason="python-graphblas is a bench extra")
def test_graphblas_peer_matches_scipy():
    rng = np.random.default_rng(3)
    Y0 = sp.random(40, 30, density=0.2, random_state=1, format="csr", dtype=np.float32)
    Ws = [sp.random(30, 30, density=0.2, random_state=k, format="csr", dtype=np.float32)
          for k in range(3)]
    b = rng.uniform(-0.3, 0.0, size=30).astype(np.float32)
    ref = scipy_infer(Y0, Ws, b)
    got = graphblas_infer(graphblas_prepare(Y0, Ws, b))
    assert abs(sp.csr_array(got) - ref).max() < 1e-5
