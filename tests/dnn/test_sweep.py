"""kkpy-dnn sweep: the table (JSON, CSV) against scipy's categories, resuming, bad input."""
import csv
import json
import os

import pytest

from kkpy.dnn._cli import main
from kkpy.dnn._sweep import parse_networks


def run_cli(capsys, *argv):
    try:
        code = main(list(argv))
    except SystemExit as exit_:
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


def table(out):
    with open(out / "sweep.json") as f:
        return {(r["neurons"], r["layers"]): r for r in json.load(f)["networks"]}


def test_networks_are_all_twelve_or_a_list():
    assert len(parse_networks("all")) == 12
    assert parse_networks("1024x2,4096x3") == [(1024, 2), (4096, 3)]
    for bad in ("1024", "1024x0", "x3", "1024x3x2", "1000x3"):
        with pytest.raises(ValueError):
            parse_networks(bad)


def test_sweep_writes_its_table_checks_against_scipy_and_resumes(capsys, tmp_path):
    out = tmp_path / "sweep"
    args = ["sweep", "--images", "40", "--check-rows", "40", "--out", str(out), "--threads", "2"]
    code, stdout, err = run_cli(capsys, *args, "--networks", "1024x2,1024x3")
    assert code == 0, err
    rows = table(out)
    assert set(rows) == {(1024, 2), (1024, 3)}
    for (n, layers), r in rows.items():
        assert r["check"] is True and r["checked_rows"] == 40 and r["images"] == 40
        assert r["edges"] == n * 32 * layers and r["edges_per_second"] > 0
        assert r["ranks"] == 1 and r["load_seconds"] >= 0 and r["warmup_seconds"] >= 0
    with open(out / "sweep.csv") as f:
        lines = list(csv.DictReader(f))
    assert [(int(x["neurons"]), int(x["layers"])) for x in lines] == [(1024, 2), (1024, 3)]
    first = rows[(1024, 2)]["seconds"]
    # again, with one more network: the two in the table are not run again
    code, stdout, err = run_cli(capsys, *args, "--networks", "1024x2,1024x3,1024x1")
    assert code == 0, err
    assert err.count("skipped") == 2
    rows = table(out)
    assert set(rows) == {(1024, 1), (1024, 2), (1024, 3)}
    assert rows[(1024, 2)]["seconds"] == first


def test_sweep_bad_input_is_one_line(capsys, tmp_path):
    code, _, err = run_cli(capsys, "sweep", "--networks", "1000x3", "--out", str(tmp_path))
    assert code == 2 and len(err.strip().splitlines()) == 1 and "1000" in err
    (tmp_path / "sweep.json").write_text("not json")
    code, _, err = run_cli(capsys, "sweep", "--networks", "1024x1", "--images", "5",
                           "--out", str(tmp_path))
    assert code == 2 and "sweep.json" in err and len(err.strip().splitlines()) == 1
    fifo = tmp_path / "fifo"  # a sweep.json that is a FIFO is refused, not waited on
    fifo.mkdir()
    os.mkfifo(fifo / "sweep.json")
    code, _, err = run_cli(capsys, "sweep", "--networks", "1024x1", "--images", "5",
                           "--out", str(fifo))
    assert code == 2 and "not a regular file" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_cli(capsys, "sweep", "--networks", "1024x1", "--images", "10" * 6,
                           "--out", str(tmp_path / "huge"))
    assert code == 2 and "too large" in err and len(err.strip().splitlines()) == 1
    afile = tmp_path / "file"
    afile.write_text("")
    code, _, err = run_cli(capsys, "sweep", "--networks", "1024x1", "--out", str(afile))
    assert code == 2 and "not a directory" in err
