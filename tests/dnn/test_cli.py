"""The kkpy-dnn command: JSON contract, exit codes, outputs, and every kind of bad input.

Most tests call ``main()`` in-process (fast); a few run ``python -m kkpy.dnn``
to see exactly what a user sees: exit status and no traceback.
"""
import gzip
import io
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from kkpy.dnn import categories, infer
from kkpy.dnn._cli import main
from kkpy.dnn._data import load_embedded, load_images, load_layers
from kkpy.dnn._generate import generate

KEYS = {"neurons", "layers", "images", "edges", "seconds", "edges_per_second", "categories",
        "passed", "ranks", "threads", "space", "load_seconds", "warmup_seconds",
        "peak_rss_bytes", "provenance"}
PROVENANCE = {"kkpy", "numba", "numpy", "scipy", "python", "git_commit", "cpu", "gpu",
              "timestamp"}


def run_cli(capsys, *argv):
    """Run in-process; return (exit code, stdout, stderr)."""
    try:
        code = main(list(argv))
    except SystemExit as exit_:  # argparse's usage errors
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


def last_json(out):
    return json.loads(out.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def embedded():
    layers, images, truth, bias, neurons = load_embedded()
    return truth


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A generated 1024-neuron, 3-layer network with 40 images, in the official layout."""
    out = tmp_path_factory.mktemp("gen")
    assert main(["generate", "--neurons", "1024", "--layers", "3", "--images", "40",
                 "--out", str(out)]) == 0
    return out


def copy_of(small, tmp_path):
    dst = tmp_path / "data"
    shutil.copytree(small, dst)
    return dst


def layer_file(data, k):
    (path,) = [p for p in (data / "neuron1024").iterdir() if p.name.startswith(f"n1024-l{k}.")]
    return path


def rewrite_line(path, lineno, text):
    """Replace 1-based line ``lineno`` of a (possibly gzip'd) TSV."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as f:
        lines = f.read().splitlines()
    lines[lineno - 1] = text
    with opener(path, "wt") as f:
        f.write("\n".join(lines) + "\n")


def test_embedded_run_passes_and_json_contract(capsys, tmp_path, embedded):
    cats = tmp_path / "cats.tsv"
    code, out, err = run_cli(capsys, "run", "--json", "--per-layer", "--quiet",
                             "--categories-out", str(cats))
    assert code == 0
    assert "PASSED" in out
    r = last_json(out)
    assert KEYS | {"per_layer"} <= set(r)
    assert (r["neurons"], r["layers"], r["images"], r["ranks"]) == (1024, 120, 1200, 1)
    assert r["passed"] is True and r["categories"] == len(embedded) == 19
    assert r["edges"] == 120 * 1024 * 32
    assert r["seconds"] > 0
    assert r["edges_per_second"] == pytest.approx(r["images"] * r["edges"] / r["seconds"])
    assert [s["layer"] for s in r["per_layer"]] == list(range(1, 121))
    assert all({"active_rows", "nnz", "seconds"} <= set(s) for s in r["per_layer"])
    rows = [s["active_rows"] for s in r["per_layer"]]
    assert rows == sorted(rows, reverse=True) and rows[-1] == 19  # dead rows stay dead
    # the categories file is 1-based, one per line, exactly the truth
    assert cats.read_text().split() == [str(i + 1) for i in embedded]
    assert err == ""  # --quiet: no compile notices; not a terminal: no status or bar


def test_json_provenance_and_optional_per_layer(capsys):
    import datetime

    import numba
    import numpy
    import scipy

    import kkpy

    code, out, _ = run_cli(capsys, "run", "--json", "--quiet", "--layers", "3", "--images", "20")
    assert code == 0
    r = last_json(out)
    assert KEYS <= set(r) and "per_layer" not in r  # per-layer detail only when asked
    assert r["load_seconds"] >= 0 and r["warmup_seconds"] >= 0 and r["seconds"] > 0
    assert r["peak_rss_bytes"] > 10 * 2**20  # numba alone takes more
    p = r["provenance"]
    assert set(p) == PROVENANCE
    assert (p["kkpy"], p["numba"], p["numpy"], p["scipy"]) == (
        kkpy.__version__, numba.__version__, numpy.__version__, scipy.__version__)
    assert p["python"] == "%d.%d.%d" % sys.version_info[:3]
    assert p["gpu"] is None and p["cpu"]
    assert p["git_commit"] is None or len(p["git_commit"]) == 40
    stamp = datetime.datetime.fromisoformat(p["timestamp"])
    age = datetime.datetime.now(datetime.timezone.utc) - stamp
    assert datetime.timedelta(0) <= age < datetime.timedelta(minutes=10)


def test_git_commit_needs_a_checkout_of_kkpy_itself(tmp_path):
    from kkpy.dnn._provenance import git_commit

    (tmp_path / "kkpy").mkdir()
    assert git_commit(str(tmp_path / "kkpy")) is None  # no .git beside it: no subprocess
    (tmp_path / ".git").mkdir()  # not a real repository: git fails, quietly
    assert git_commit(str(tmp_path / "kkpy")) is None


def test_version(capsys):
    import kkpy

    code, out, _ = run_cli(capsys, "--version")
    assert code == 0 and out.strip() == f"kkpy-dnn (kkpy-kokkos) {kkpy.__version__}"


def test_every_option_says_its_default(capsys):
    from kkpy.dnn._cli import build_parser

    parser = build_parser()
    subs = parser._subparsers._group_actions[0].choices
    for name in ("run", "generate"):
        for action in subs[name]._actions:
            if action.option_strings and action.dest != "help":
                assert "default" in action.help or "required" in action.help, \
                    (name, action.option_strings)
    code, out, _ = run_cli(capsys, "bench", "--help")
    assert code == 0
    assert "``" not in out and ":func:" not in out  # plain text, no reST markup
    options = [ln for ln in out.splitlines() if ln.lstrip().startswith("--")]
    text = out.replace("\n", " ")
    assert len(options) >= 9 and text.count("(default:") >= 9


def test_wrong_truth_exits_1(capsys, tmp_path, embedded):
    truth = tmp_path / "truth.tsv"
    truth.write_text("".join(f"{i + 1}\n" for i in embedded[1:]))
    code, out, _ = run_cli(capsys, "run", "--json", "--quiet", "--truth", str(truth),
                           "--layers", "120")
    assert code == 1 and "FAILED" in out
    assert last_json(out)["passed"] is False


def test_fewer_images_and_layers_of_the_embedded_network(capsys, embedded):
    code, out, _ = run_cli(capsys, "run", "--json", "--images", "300", "--threads", "1")
    r = last_json(out)
    assert code == 0 and r["images"] == 300 and r["threads"] == 1
    assert r["categories"] == int(np.sum(embedded < 300)) and r["passed"] is True
    code, out, _ = run_cli(capsys, "run", "--json", "--layers", "5", "--space", "serial")
    r = last_json(out)
    assert code == 0 and r["passed"] is None and r["layers"] == 5 and r["space"] == "serial"


def test_generate_then_run_matches_the_api(capsys, small, tmp_path):
    small = copy_of(small, tmp_path)
    cats = tmp_path / "cats.tsv"
    code, out, _ = run_cli(capsys, "run", "--data", str(small), "--neurons", "1024",
                           "--layers", "3", "--json", "--categories-out", str(cats))
    r = last_json(out)
    assert code == 0 and r["passed"] is None  # generated data come without truth
    assert (r["images"], r["layers"], r["edges"]) == (40, 3, 3 * 1024 * 32)
    Y = infer(load_images(small, 1024), load_layers(small, 1024, 3), -0.3)
    expected = categories(Y)
    assert r["categories"] == expected.size
    assert cats.read_text().split() == [str(i + 1) for i in expected]
    # the truth file in DIR is picked up by default
    (small / "neuron1024-l3-categories.tsv").write_text(cats.read_text())
    code, out, _ = run_cli(capsys, "run", "--data", str(small), "--neurons", "1024",
                           "--layers", "3", "--json")
    assert code == 0 and last_json(out)["passed"] is True


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_only_on_a_terminal(monkeypatch):
    tty = Terminal()
    monkeypatch.setattr(sys, "stderr", tty)
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    assert main(["run", "--layers", "5", "--images", "50"]) == 0
    # a person sees each slow phase announced, then the bar
    shown = tty.getvalue()
    assert shown.startswith("kkpy-dnn: loading the embedded official problem ...\n")
    assert "kkpy-dnn: warming up: the first run in a new environment compiles" in shown
    assert "kkpy-dnn: warm-up done in" in shown and shown.endswith("] 5/5\n")
    tty.seek(0)
    tty.truncate()
    assert main(["run", "--layers", "5", "--images", "50", "--quiet"]) == 0
    assert tty.getvalue() == ""


def test_plot(capsys, tmp_path):
    pytest.importorskip("matplotlib")
    png = tmp_path / "layers.png"
    code, _, _ = run_cli(capsys, "run", "--layers", "4", "--plot", str(png))
    assert code == 0 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_has_title_log_axes_and_nonzeros():
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    from kkpy.dnn._cli import _figure

    stats = [{"layer": k, "active_rows": 100 // k, "nnz": 3000 // k, "seconds": 1e-3 / k}
             for k in range(1, 5)]
    fig = _figure({"per_layer": stats, "neurons": 1024, "layers": 4, "images": 100,
                   "data": "embedded", "space": "threads", "threads": 2, "ranks": 1,
                   "seconds": 0.01})
    try:
        title = fig._suptitle.get_text()
        for part in ("1024 neurons", "4 layers", "100 images", "threads space",
                     "2 thread(s)", "1 rank(s)"):
            assert part in title
        labels = [ax.get_ylabel() for ax in fig.axes]
        assert labels == ["active rows", "nonzeros", "ms"]
        assert all(ax.get_yscale() == "log" for ax in fig.axes)
        assert list(fig.axes[1].lines[0].get_ydata()) == [s["nnz"] for s in stats]
    finally:
        plt.close(fig)


@pytest.mark.parametrize("argv, message", [
    (["run", "--neurons", "-5"], "must be at least 1"),
    (["run", "--layers", "0"], "must be at least 1"),
    (["run", "--images", "x"], "not an integer"),
    (["run", "--space", "gpu"], "invalid choice"),
    (["run", "--neurons", "4096"], "embedded network has 1024 neurons"),
    (["run", "--layers", "121"], "embedded network has 120 layers"),
    (["run", "--images", "1201"], "embedded data has 1200 images"),
    (["run", "--threads", "100000"], "--space threads"),
    (["run", "--data", "/nonexistent/dir", "--neurons", "1024", "--layers", "2"],
     "/nonexistent/dir"),
    (["run", "--data", "."], "--data needs --neurons N and --layers L"),
    (["run", "--truth", "/nonexistent/truth.tsv"], "/nonexistent/truth.tsv"),
    (["run", "--categories-out", "/nonexistent/c.tsv"], "/nonexistent/c.tsv"),
    ([], "choose a command"),
])
def test_usage_errors_exit_2(capsys, argv, message):
    code, out, err = run_cli(capsys, *argv)
    assert code == 2
    assert message in err
    assert "Traceback" not in err


def test_generate_rejects_bad_sizes(capsys, tmp_path):
    code, _, err = run_cli(capsys, "generate", "--neurons", "1000", "--layers", "1",
                           "--images", "1", "--out", str(tmp_path / "x"))
    assert code == 2 and "1000" in err and "Traceback" not in err
    code, _, err = run_cli(capsys, "generate", "--neurons", "1024", "--layers", "-1",
                           "--images", "1", "--out", str(tmp_path / "x"))
    assert code == 2 and "at least 1" in err


@pytest.mark.parametrize("damage, where", [
    ("missing", ["n1024-l2.tsv"]),
    ("fields", ["n1024-l2.tsv", ":5:"]),
    ("zero-based", ["n1024-l2.tsv", ":5:"]),
    ("out-of-range", ["n1024-l2.tsv", ":5:"]),
    ("not-a-number", ["n1024-l2.tsv", ":5:"]),
    ("image-fields", ["sparse-images-1024.tsv", ":3:"]),
    ("truth", ["neuron1024-l3-categories.tsv", ":2:"]),
])
def test_bad_data_names_file_and_line(capsys, small, tmp_path, damage, where):
    data = copy_of(small, tmp_path)
    path = layer_file(data, 2)
    if damage == "missing":
        path.unlink()
    elif damage == "fields":
        rewrite_line(path, 5, "3\t7")
    elif damage == "zero-based":
        rewrite_line(path, 5, "0\t7\t0.0625")
    elif damage == "out-of-range":  # an N that disagrees with the files
        rewrite_line(path, 5, "3\t1025\t0.0625")
    elif damage == "not-a-number":
        rewrite_line(path, 5, "3\t7\tabc")
    elif damage == "image-fields":
        (image,) = [p for p in data.iterdir() if p.name.startswith("sparse-images-1024.")]
        rewrite_line(image, 3, "1")
    elif damage == "truth":
        (data / "neuron1024-l3-categories.tsv").write_text("1\nx\n")
    out_file = tmp_path / "cats.tsv"
    code, out, err = run_cli(capsys, "run", "--data", str(data), "--neurons", "1024",
                             "--layers", "3", "--categories-out", str(out_file))
    assert code == 2
    assert all(w in err for w in where), err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not out_file.exists()  # nothing written half-way


def test_as_a_user_sees_it(small, tmp_path):
    """A real process: exit statuses and stderr without a traceback, JSON last on stdout."""
    data = copy_of(small, tmp_path)
    rewrite_line(layer_file(data, 3), 2, "1\t1\t1\t1")
    cmd = [sys.executable, "-m", "kkpy.dnn", "run", "--data", str(data), "--neurons", "1024",
           "--layers", "3"]
    bad = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2, bad.stderr
    assert "n1024-l3.tsv" in bad.stderr and ":2:" in bad.stderr and "Traceback" not in bad.stderr
    good = subprocess.run(cmd[:4] + ["--images", "50", "--layers", "2", "--json"],
                          capture_output=True, text=True, timeout=300)
    assert good.returncode == 0, good.stderr
    assert last_json(good.stdout)["images"] == 50
    exe = shutil.which("kkpy-dnn") or os.path.join(os.path.dirname(sys.executable), "kkpy-dnn")
    if os.path.exists(exe):
        usage = subprocess.run([exe, "run", "--images", "-1"], capture_output=True, text=True,
                               timeout=300)
        assert usage.returncode == 2 and "Traceback" not in usage.stderr


def test_stream_gives_the_result_of_loading_the_network_first(capsys, small, tmp_path):
    base = ["run", "--data", str(small), "--neurons", "1024", "--layers", "3", "--json"]
    results = []
    for extra in ([], ["--stream"]):
        cats = tmp_path / f"cats{len(extra)}.tsv"
        code, out, err = run_cli(capsys, *base, *extra, "--categories-out", str(cats))
        assert code == 0, err
        results.append((last_json(out), cats.read_text()))
    (loaded, cats_loaded), (streamed, cats_streamed) = results
    assert streamed["streamed"] and not loaded["streamed"]
    assert cats_streamed == cats_loaded
    assert (streamed["categories"], streamed["edges"]) == (loaded["categories"], loaded["edges"])


@pytest.mark.parametrize("layer", [1, 3])  # read by the warm-up, or only by the timed run
@pytest.mark.parametrize("damage", ["fields", "out-of-range", "not-a-number"])
def test_a_bad_streamed_layer_is_one_line_naming_file_and_line(capsys, small, tmp_path, damage,
                                                               layer):
    data = copy_of(small, tmp_path)
    line = {"fields": "3\t7", "out-of-range": "3\t1025\t0.0625", "not-a-number": "3\t7\tabc"}
    rewrite_line(layer_file(data, layer), 5, line[damage])
    out_file = tmp_path / "cats.tsv"
    code, out, err = run_cli(capsys, "run", "--data", str(data), "--neurons", "1024",
                             "--layers", "3", "--stream", "--categories-out", str(out_file))
    assert code == 2
    assert f"n1024-l{layer}.tsv" in err and ":5:" in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not out_file.exists()


def test_stream_without_data_is_refused(capsys):
    code, out, err = run_cli(capsys, "run", "--stream")
    assert code == 2 and "--stream" in err and len(err.strip().splitlines()) == 1
