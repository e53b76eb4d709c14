"""Sparse DNN inference: the Graph Challenge's layer recurrence on kkpy SpGEMM.

Each layer computes ``Y = min(max(Y @ W + b, 0), ymax)`` where the bias is
added only to the entries of ``Y @ W`` that are nonzero.  The whole network
is one :func:`kkpy.sparse.spgemm_chain`: a chain of SpGEMMs whose fused
epilogue applies bias, ReLU and cap to every nonzero of each product and
drops the entries that end up 0.

Rows that die (become empty) stay dead, because an empty row of ``Y`` gives
an empty row of ``Y @ W``; the chain drops them from later products.
"""
from __future__ import annotations

import numpy as np

import kkpy

__all__ = ["infer", "categories", "challenge_epilogue"]


@kkpy.kernel
def challenge_epilogue(z, j, bias, ymax):
    """Bias, ReLU and cap of one entry ``z`` in column ``j`` of ``Y @ W``.

    The bias is added only where ``z`` is nonzero (the challenge's
    definition); an entry that cancels to exactly 0 stays 0, and
    ``drop_zeros`` then removes it whatever the sign of the bias.

    Examples
    --------
    >>> import numpy as np
    >>> b = np.array([-0.5, 0.5])
    >>> challenge_epilogue(2.0, 0, b, 32.0), challenge_epilogue(0.0, 1, b, 32.0)
    (1.5, 0.0)
    >>> challenge_epilogue(0.25, 0, b, 32.0), challenge_epilogue(40.0, 1, b, 32.0)
    (0.0, 32.0)
    """
    if z == 0:
        return z
    z += bias[j]
    if z < 0:
        return ymax - ymax  # a zero of z's type (a literal 0.0 would widen float32 to float64)
    if z > ymax:
        return ymax
    return z


def categories(Y, space=None):
    """Rows of ``Y`` whose sum is nonzero: the challenge's categories.

    Parameters
    ----------
    Y : CrsMatrix or scipy.sparse matrix
        Usually the result of :func:`infer`.
    space : ExecutionSpace, optional
        Where to compute the row sums (default: the default space).

    Returns
    -------
    numpy.ndarray of int64
        Sorted **0-based** row indices.  The challenge's truth files (and
        ``kkpy-dnn run --categories-out``) are 1-based: add 1 to compare.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from kkpy.dnn import categories
    >>> categories(sp.csr_array(np.array([[0.0, 1.0], [0.0, 0.0], [2.0, -2.0], [0.0, 3.0]])))
    array([0, 3])
    """
    from ..sparse import row_sums

    sums = row_sums(Y, space)
    if not isinstance(sums, np.ndarray):  # summed on the GPU: only the sums come back
        sums = np.asarray(kkpy.create_mirror_view_and_copy(kkpy.HostSpace, sums))[:Y.shape[0]]
    return np.flatnonzero(sums).astype(np.int64)


def _per_layer_bias(bias, nlayers):
    """One bias (scalar or per-neuron vector) per layer, from any accepted form."""
    if isinstance(bias, (list, tuple)) and len(bias) == nlayers:
        return [np.asarray(b) for b in bias]
    b = np.asarray(bias)
    if b.ndim == 2:
        if b.shape[0] != nlayers:
            raise ValueError(f"bias has {b.shape[0]} rows but there are {nlayers} layers")
        return list(b)
    if b.ndim > 2:
        raise ValueError(f"bias must be a scalar, a vector or one per layer; got shape {b.shape}")
    return [b] * nlayers


def _streamed_bias(bias, nlayers):
    """``k -> layer k's bias`` for a stream of ``nlayers`` layers (None: not known).

    With the count known, the forms of :func:`_per_layer_bias`; without, a
    list, tuple or 2-D array is one bias per layer, anything else one for all.
    """
    if nlayers is not None:
        per = _per_layer_bias(bias, nlayers)
    elif isinstance(bias, (list, tuple)) or np.ndim(bias) == 2:
        per = [np.asarray(b) for b in bias]
    else:
        if np.ndim(bias) > 2:
            raise ValueError(f"bias must be a scalar, a vector or one per layer; got shape "
                             f"{np.shape(bias)}")
        return lambda k, b=np.asarray(bias): b

    def of(k):
        if k >= len(per):
            raise ValueError(f"bias has {len(per)} entries, one per layer, but the network "
                             f"has a layer {k + 1}")
        return per[k]

    return of


def _bias_vector(b, ncols, dtype, layer):
    if b.ndim == 0:
        return np.full(ncols, b, dtype)
    if b.shape != (ncols,):
        raise ValueError(f"layer {layer}: bias has {b.size} entries but the layer has "
                         f"{ncols} neurons (columns)")
    return np.ascontiguousarray(b, dtype)


def infer(Y0, layers, bias, ymax=32.0, space=None, dtype=np.float32, callback=None):
    """Run a sparse deep neural network on a batch of inputs (Graph Challenge inference).

    For every layer ``W``: ``Z = Y @ W``; add the bias to the entries of ``Z``
    that are nonzero; set negative entries to 0; cap entries at ``ymax``;
    drop the zeros.  Works for any sparse network: uneven rows, signed
    weights, any bias, and rectangular layers (``N_in x N_out`` chains).

    Parameters
    ----------
    Y0 : CrsMatrix or scipy.sparse matrix
        Inputs, one row each (``images x N_0``).
    layers : sequence of CrsMatrix or scipy.sparse matrix, a prepared chain, or a stream
        Weights; layer ``k`` is ``N_k x N_(k+1)``.  To run one network on
        many batches, prepare it once with :func:`kkpy.sparse.prepare_chain`
        (the weights transposed for the chain's column access, or uploaded
        to the GPU: pass the same ``space``) and pass that.  An iterator of
        layers, or a :class:`kkpy.sparse.ChainStream`, is read a few layers
        ahead of the layer computing, so memory holds a few layers whatever
        the depth (on the host; a GPU reads the network whole, keeps what
        fits in its memory and streams the rest up from the host's).
    bias : float, vector, or one per layer
        A scalar for every neuron of every layer; a per-neuron vector (its
        length the layer's number of columns) used for every layer; or a
        list/tuple with one scalar or vector per layer (also a 2-D array
        with one row per layer).
    ymax : float
        The cap (32 in the challenge).
    space : ExecutionSpace, optional
        Where the SpGEMMs run (default: the default space).
    dtype : numpy dtype
        Value type of the computation (float32, as in the challenge).
    callback : callable, optional
        ``callback(layer_index, stats)`` after each layer, ``layer_index``
        0-based; ``stats`` has ``layer`` (1-based), ``active_rows`` (rows
        still alive after it), ``nnz`` and ``seconds``.

    Returns
    -------
    CrsMatrix or DeviceCrs
        The final ``Y``, ``images x N_L``; rows that died are empty.  On a
        Cuda space it stays in GPU memory (a :class:`~kkpy.sparse.DeviceCrs`;
        :func:`categories` takes it there).

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from kkpy.dnn import infer, categories
    >>> W = sp.csr_array(np.array([[1.0, -1.0], [1.0, 2.0]]))
    >>> Y0 = sp.csr_array(np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]))
    >>> Y = infer(Y0, [W, W], bias=-0.5)
    >>> Y.to_scipy().toarray()
    array([[0. , 0. ],
           [1.5, 2. ],
           [0. , 0. ]], dtype=float32)
    >>> categories(Y)
    array([1])
    """
    from ..sparse import ChainStream, as_crs, prepare_chain, spgemm_chain

    dtype = np.dtype(dtype)
    on_gpu = space is not None and space.memory_space == kkpy.CudaSpace
    prepared = hasattr(layers, "shapes") and hasattr(layers, "release")
    if not prepared and not isinstance(layers, ChainStream) and iter(layers) is layers:
        layers = ChainStream(layers, dtype)  # an iterator: each layer read as it is needed

    def report(k, stats):
        callback(k, {"layer": k + 1, **stats})

    if isinstance(layers, ChainStream):
        bias_of, last = _streamed_bias(bias, layers.length), {}

        def layer_args(k, shape):
            b = bias_of(k)
            if last.get("key") != (id(b), shape[1]):  # one vector at a time, not one a layer
                last.update(key=(id(b), shape[1]), vec=_bias_vector(b, shape[1], dtype, k + 1))
            return (last["vec"], dtype.type(ymax))

        Y = spgemm_chain(Y0, layers, challenge_epilogue, layer_args, space=space, dtype=dtype,
                         callback=None if callback is None else report)
        return Y if on_gpu else as_crs(Y)
    if not prepared:
        layers = list(layers)
    shapes = layers.shapes if prepared else [W.shape for W in layers]
    biases = _per_layer_bias(bias, len(shapes))
    width = Y0.shape[1]
    args, vectors = [], {}
    for k, (rows, cols) in enumerate(shapes):
        if rows != width:
            raise ValueError(f"layer {k + 1} is {rows} x {cols} but its input has {width} columns")
        # one vector per distinct bias: a GPU run uploads each once
        key = (id(biases[k]), cols)
        if key not in vectors:
            vectors[key] = _bias_vector(biases[k], cols, dtype, k + 1)
        args.append((vectors[key], dtype.type(ymax)))
        width = cols
    if not shapes and not on_gpu:
        return as_crs(Y0).astype(dtype)
    chain = layers if prepared else prepare_chain(layers, dtype, space=space)
    Y = spgemm_chain(Y0, chain, challenge_epilogue, args, space=space, dtype=dtype,
                     callback=None if callback is None else report)
    return Y if on_gpu else as_crs(Y)
