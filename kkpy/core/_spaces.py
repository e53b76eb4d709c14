"""Execution and memory spaces, and the library's lifetime (initialize/finalize).

Kokkos separates *where code runs* (execution spaces) from *where data lives*
(memory spaces).  kkpy keeps that split so that a ``Cuda`` execution space with
a ``CudaSpace`` memory space plugs in beside the host ones without a redesign:
each execution space names its memory space and a code-generation backend.
"""
from __future__ import annotations

import os
import threading

from . import _backends

__all__ = [
    "MemorySpace", "HostSpace", "CudaSpace",
    "ExecutionSpace", "Serial", "Threads",
    "DefaultExecutionSpace", "DefaultHostExecutionSpace",
    "initialize", "finalize", "is_initialized", "ScopeGuard", "fence",
    "space_from_name",
]


class MemorySpace:
    """A place where View data lives.  Instances compare equal by name."""

    name = "Memory"

    def __eq__(self, other):
        return isinstance(other, MemorySpace) and other.name == self.name

    def __hash__(self):
        return hash(self.name)

    def __repr__(self):
        return f"kkpy.{self.name}"


class _HostSpace(MemorySpace):
    name = "HostSpace"


class _CudaSpace(MemorySpace):
    name = "CudaSpace"


#: Ordinary CPU memory: numpy arrays.
HostSpace = _HostSpace()
#: GPU global memory: device arrays with ``__cuda_array_interface__``.
CudaSpace = _CudaSpace()


class ExecutionSpace:
    """Base class of execution spaces.

    Subclasses set ``name``, ``memory_space`` and ``backend`` (the key the
    pattern code generator uses to pick a driver template).
    """

    name = "ExecutionSpace"
    memory_space: MemorySpace = HostSpace
    backend = "host"
    #: Whether launches use more than one thread.
    parallel = False

    def concurrency(self) -> int:
        """Number of threads a parallel pattern may use on this space."""
        return 1

    def fence(self) -> None:
        """Wait until all work launched on this space is done.

        Host launches are synchronous, so this returns at once.
        """

    def __eq__(self, other):
        return type(other) is type(self) and other._key() == self._key()

    def __hash__(self):
        return hash((type(self).__name__, self._key()))

    def _key(self):
        return ()

    def __repr__(self):
        return f"kkpy.{self.name}()"


class Serial(ExecutionSpace):
    """Run every pattern on the calling thread, in index order.

    Examples
    --------
    >>> import kkpy
    >>> kkpy.Serial().concurrency()
    1
    """

    name = "Serial"


class Threads(ExecutionSpace):
    """Run patterns on numba's CPU thread pool (``prange``).

    Parameters
    ----------
    num_threads : int, optional
        Threads to use; defaults to ``KKPY_NUM_THREADS`` or, failing that,
        numba's own default (all cores).

    Examples
    --------
    >>> import kkpy
    >>> kkpy.Threads(num_threads=1).concurrency()
    1
    """

    name = "Threads"
    parallel = True

    def __init__(self, num_threads: int | None = None):
        import numba

        limit = numba.config.NUMBA_NUM_THREADS
        if num_threads is None:
            num_threads = _config["num_threads"] or limit
        num_threads = int(num_threads)
        if not 1 <= num_threads <= limit:
            raise ValueError(
                f"Threads(num_threads={num_threads}): must be between 1 and {limit} "
                "(numba's NUMBA_NUM_THREADS)")
        self.num_threads = num_threads

    def concurrency(self) -> int:
        return self.num_threads

    def _key(self):
        return (self.num_threads,)

    def __repr__(self):
        return f"kkpy.Threads(num_threads={self.num_threads})"


# -- configuration and lifetime -------------------------------------------------

_lock = threading.Lock()
_config = {"initialized": False, "default": None, "num_threads": None}
_backends.register_space("serial", Serial)
_backends.register_space("threads", Threads)


def space_from_name(name: str, **kwargs) -> ExecutionSpace:
    """Return a new execution space from its name (``serial``, ``threads``, ``cuda``).

    Examples
    --------
    >>> import kkpy
    >>> kkpy.space_from_name("serial")
    kkpy.Serial()
    """
    cls = _backends.space_class(name)
    if cls is None:
        raise ValueError(
            f"unknown execution space {name!r}; choose one of {_backends.space_names()}")
    if cls is Threads:
        return cls(**kwargs)
    return cls()


def _env_int(name):
    raw = os.environ.get(name)
    if raw in (None, ""):
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"environment variable {name}={raw!r} is not an integer") from None
    return value


def initialize(num_threads: int | None = None, default_space: str | ExecutionSpace | None = None,
               *, argv: list | None = None):
    """Initialize kkpy, like ``Kokkos::initialize``.

    Calling it is optional: kkpy initializes itself on first use.  Explicit
    arguments win over the environment variables ``KKPY_NUM_THREADS`` and
    ``KKPY_DEFAULT_SPACE`` (``serial``, ``threads`` or ``cuda``).

    Parameters
    ----------
    num_threads : int, optional
        Default thread count for :class:`Threads`.
    default_space : str or ExecutionSpace, optional
        The space returned by :func:`DefaultExecutionSpace`.
    argv : list of str, optional
        Command-line arguments, as ``Kokkos::initialize(argc, argv)`` takes
        them (also accepted as the first argument: ``initialize(sys.argv)``).
        ``--kokkos-num-threads=N`` (or ``--kokkos-threads=N``) sets the
        thread count and ``--kokkos-default-space=NAME`` the space; as in
        Kokkos they are removed from a list, other arguments are left, and
        an unknown ``--kokkos-`` option is an error.

    Examples
    --------
    >>> import kkpy
    >>> kkpy.initialize(num_threads=1, default_space="serial")
    >>> kkpy.DefaultExecutionSpace()
    kkpy.Serial()
    >>> kkpy.finalize()
    >>> args = ["prog", "--kokkos-num-threads=1", "input.mtx"]
    >>> kkpy.initialize(args); args
    ['prog', 'input.mtx']
    >>> kkpy.finalize()
    """
    if isinstance(num_threads, (list, tuple)):
        argv, num_threads = num_threads, None
    if argv is not None:
        num_threads, default_space = _parse_argv(argv, num_threads, default_space)
    with _lock:
        if num_threads is None:
            num_threads = _env_int("KKPY_NUM_THREADS")
        _config["num_threads"] = num_threads
        if num_threads is not None:
            import numba

            if not 1 <= num_threads <= numba.config.NUMBA_NUM_THREADS:
                raise ValueError(
                    f"num_threads={num_threads}: must be between 1 and "
                    f"{numba.config.NUMBA_NUM_THREADS}")
        if default_space is None:
            env = os.environ.get("KKPY_DEFAULT_SPACE")
            try:
                default_space = space_from_name(env or "threads")
            except ValueError as err:
                raise ValueError(f"environment variable KKPY_DEFAULT_SPACE={env!r}: {err}") from None
        if isinstance(default_space, str):
            default_space = space_from_name(default_space)
        _config["default"] = default_space
        _config["initialized"] = True


_ARGV_OPTIONS = {"--kokkos-num-threads": "num_threads", "--kokkos-threads": "num_threads",
                 "--kokkos-default-space": "default_space"}


def _parse_argv(argv, num_threads, default_space):
    found = {}
    keep = []
    for arg in argv:
        if not (isinstance(arg, str) and arg.startswith("--kokkos-")):
            keep.append(arg)
            continue
        name, eq, value = arg.partition("=")
        if name not in _ARGV_OPTIONS or not eq:
            raise ValueError(f"initialize: unknown or incomplete option {arg!r}; kkpy takes "
                             f"{', '.join(o + '=...' for o in _ARGV_OPTIONS)}")
        if _ARGV_OPTIONS[name] == "num_threads":
            try:
                found["num_threads"] = int(value)
            except ValueError:
                raise ValueError(f"initialize: {arg!r}: the thread count must be an integer") from None
        else:
            found["default_space"] = value
    if isinstance(argv, list):
        argv[:] = keep
    # Explicit keywords win, as over the environment.
    return (num_threads if num_threads is not None else found.get("num_threads"),
            default_space if default_space is not None else found.get("default_space"))


def finalize() -> None:
    """Finish using kkpy: fence, print the kernel-timer report if enabled, reset defaults."""
    from .. import profiling

    with _lock:
        if _config["default"] is not None:
            _config["default"].fence()
        _config.update(initialized=False, default=None, num_threads=None)
    profiling._report_at_finalize()


def is_initialized() -> bool:
    """Whether :func:`initialize` has run (explicitly or on first use)."""
    return _config["initialized"]


def DefaultExecutionSpace() -> ExecutionSpace:  # noqa: N802  (Kokkos spelling)
    """The default execution space (``Threads`` unless configured otherwise).

    Examples
    --------
    >>> import kkpy
    >>> isinstance(kkpy.DefaultExecutionSpace(), kkpy.ExecutionSpace)
    True
    """
    if not _config["initialized"]:
        initialize()
    return _config["default"]


def DefaultHostExecutionSpace() -> ExecutionSpace:  # noqa: N802
    """The default space that runs on the host: the default space unless that is a GPU."""
    space = DefaultExecutionSpace()
    return space if space.memory_space == HostSpace else Threads()


class ScopeGuard:
    """Context manager that initializes kkpy on entry and finalizes on exit.

    Examples
    --------
    >>> import kkpy
    >>> with kkpy.ScopeGuard(default_space="serial"):
    ...     kkpy.DefaultExecutionSpace().name
    'Serial'
    """

    def __init__(self, **kwargs):
        self._kwargs = kwargs

    def __enter__(self):
        initialize(**self._kwargs)
        return self

    def __exit__(self, *exc):
        finalize()
        return False


def fence(space: ExecutionSpace | None = None) -> None:
    """Wait for all outstanding work on ``space`` (default: the default space)."""
    (space or DefaultExecutionSpace()).fence()
