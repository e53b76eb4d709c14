"""What every CLI error test checks: exit 2 and one line on stderr, no traceback."""
from kkpy.dnn._cli import main


def run_cli(capsys, *argv):
    """``kkpy-dnn argv`` in this process: (exit code, stdout, stderr)."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exit_:
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line(code, err, *words):
    assert code == 2, err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    for w in words:
        assert w in err, err
