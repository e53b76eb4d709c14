"""The Cuda execution space (``Kokkos::Cuda``) and the choice of GPU."""
from __future__ import annotations

from numba import cuda
from numba.core import config as _config

from .._spaces import CudaSpace, ExecutionSpace

__all__ = ["Cuda", "is_simulator"]


def is_simulator() -> bool:
    """Whether numba's CUDA simulator stands in for a GPU (``NUMBA_ENABLE_CUDASIM=1``)."""
    return bool(_config.ENABLE_CUDASIM)


class Cuda(ExecutionSpace):
    """Run patterns on an NVIDIA GPU (``Kokkos::Cuda``).

    Parameters
    ----------
    device_id : int, default 0
        Which GPU of this process to use.  With MPI, give each rank its own
        (``rank % number_of_gpus``).
    stream : numba.cuda stream, optional
        An *instance* of the space on this stream (``Kokkos::Cuda(stream)``):
        patterns launched on it are ordered on ``stream`` and may overlap work
        on other streams, and :meth:`fence` waits for this stream only.
        Default: the device's default stream.

    Examples
    --------
    >>> import kkpy
    >>> kkpy.Cuda.backend, kkpy.Cuda.memory_space
    ('cuda', kkpy.CudaSpace)
    """

    name = "Cuda"
    memory_space = CudaSpace
    backend = "cuda"
    parallel = True

    def __init__(self, device_id: int = 0, stream=None):
        self.device_id = int(device_id)
        _select(self.device_id)
        if stream is not None and not (hasattr(stream, "synchronize")
                                       and hasattr(stream, "auto_synchronize")):
            raise TypeError(f"kkpy.Cuda: stream must be a numba.cuda stream "
                            f"(numba.cuda.stream()), not {type(stream).__name__}")
        self.stream = stream

    def launch_stream(self):
        """The stream patterns on this instance launch on (0: the default stream)."""
        return 0 if self.stream is None else self.stream

    def concurrency(self) -> int:
        """Threads the GPU runs at once: multiprocessors x 2048."""
        if is_simulator():
            return 1
        return cuda.get_current_device().MULTIPROCESSOR_COUNT * 2048

    def fence(self) -> None:
        """Wait until every kernel and copy launched on the GPU has finished; for an
        instance on a stream, those launched on that stream."""
        if self.stream is None:
            cuda.synchronize()
        else:
            self.stream.synchronize()

    def _key(self):
        return (self.device_id, None if self.stream is None else id(self.stream))

    def __repr__(self):
        if self.stream is None:
            return f"kkpy.Cuda(device_id={self.device_id})"
        return f"kkpy.Cuda(device_id={self.device_id}, stream={self.stream!r})"


_selected = [None]


def host_wait(stream):
    """Wait on the host until ``stream`` (a :meth:`Cuda.launch_stream`) has done its work.

    The default stream (0) needs no wait: numba's copies on it return when done.
    """
    if not isinstance(stream, int):
        stream.synchronize()


def _select(device_id):
    if is_simulator():
        if device_id != 0:
            raise ValueError("kkpy.Cuda: the CUDA simulator has only device 0")
        return
    if _selected[0] == device_id:
        return
    if not cuda.is_available():
        raise RuntimeError("kkpy.Cuda: no usable CUDA GPU or driver was found "
                           "(numba.cuda.is_available() is False)")
    count = len(cuda.gpus)
    if not 0 <= device_id < count:
        raise ValueError(f"kkpy.Cuda(device_id={device_id}): this process sees {count} GPU(s)")
    cuda.select_device(device_id)
    _selected[0] = device_id
