"""User mistakes give one short line naming the pattern label, the kernel and the argument."""
import numpy as np
import pytest

import kkpy
from core_kernels import scaled_copy, value

SERIAL = kkpy.RangePolicy(kkpy.Serial(), 0, 3)


def _message(call):
    with pytest.raises(kkpy.KernelError) as info:
        call()
    msg = str(info.value)
    assert "\n" not in msg and len(msg) < 250, msg  # one short line, no numba wall
    # no chained numba traceback under it
    assert info.value.__context__ is None or info.value.__suppress_context__
    return msg


def test_too_few_arguments_names_the_missing_one():
    msg = _message(lambda: kkpy.parallel_for("axpy", SERIAL, scaled_copy, np.ones(3)))
    assert "parallel_for 'axpy'" in msg and "scaled_copy(i, x, y, a)" in msg
    assert "missing 'y', 'a'" in msg


def test_too_many_arguments():
    msg = _message(lambda: kkpy.parallel_reduce("dot", SERIAL, value, np.ones(3), 2.0))
    assert "parallel_reduce 'dot'" in msg and "value(i, x)" in msg
    assert "takes 1 argument(s) after i, got 2" in msg


def test_unsupported_argument_type_names_the_argument():
    msg = _message(lambda: kkpy.parallel_for("axpy", SERIAL, scaled_copy, [1.0, 2.0, 3.0],
                                             np.zeros(3), 1.0))
    assert "parallel_for 'axpy'" in msg and "'scaled_copy'" in msg
    assert "argument 1 ('x') is a list" in msg
    msg = _message(lambda: kkpy.parallel_for("axpy", SERIAL, scaled_copy, np.ones(3),
                                             {"y": 1}, 1.0))
    assert "argument 2 ('y') is a dict" in msg


def test_argument_numba_cannot_type():
    msg = _message(lambda: kkpy.parallel_reduce("sum", SERIAL, value, object()))
    assert "parallel_reduce 'sum'" in msg and "'value'" in msg and "x: unsupported object" in msg


def test_wrong_argument_type_names_the_argument_and_the_line():
    # A float where the kernel indexes an array: numba's typing error, shortened.
    msg = _message(lambda: kkpy.parallel_scan("offsets", SERIAL, value, 3.0))
    assert "parallel_scan 'offsets'" in msg and "'value'" in msg and "x: float64" in msg
    assert "core_kernels.py:" in msg  # where in the user's code it failed


def test_errors_with_the_default_label_use_the_kernel_name():
    msg = _message(lambda: kkpy.parallel_for(SERIAL, scaled_copy, np.ones(3)))
    assert "parallel_for 'scaled_copy'" in msg


def test_kernel_error_is_a_type_error():
    assert issubclass(kkpy.KernelError, TypeError)


def test_not_a_policy():
    with pytest.raises(TypeError, match="expected an execution policy"):
        kkpy.parallel_for("x", "ten", value, np.ones(3))


def test_a_coloured_numba_error_gives_the_same_plain_line():
    # numba colours its messages where colorama is installed (an H100 host
    # did): the escapes must neither hide the signature nor reach the user
    from kkpy.core._patterns import _reason

    bold, reset = "\x1b[1m", "\x1b[0m"
    text = (f"{bold}{bold}Failed in nopython mode pipeline (step: nopython frontend)\n"
            f"{bold}No implementation of function Function(<function drand>) found for "
            f"signature:\n \n >>> drand(array(float64, 1d, C), int64){reset}\n \n"
            f"{bold}There are 2 candidate implementations:{reset}\n"
            f'{bold}File "user.py", line 4:{reset}\n')
    plain = text.replace(bold, "").replace(reset, "")
    assert _reason(TypeError(text)) == _reason(TypeError(plain)) \
        == "no implementation of drand(array(float64, 1d, C), int64) (at user.py:4)"
