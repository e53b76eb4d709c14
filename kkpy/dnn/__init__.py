"""The IEEE HPEC / MIT Sparse DNN Graph Challenge on kkpy.

Inference runs a sparse deep neural network on a batch of sparse inputs:
for every layer ``Y = min(max(Y @ W + b, 0), 32)``, the bias added only to
nonzero entries; the inputs whose final row is nonzero are the categories.
The network runs as one :func:`kkpy.sparse.spgemm_chain`, SpGEMMs with a
fused bias/ReLU/cap epilogue that drops the zeros and the rows that die.

Data: :func:`load_layers`, :func:`load_images`, :func:`load_truth` read the
official layout (plain or ``.gz``, through a binary cache, or kkpy's binary
``.csr`` folders: :func:`write_csr`, :func:`read_csr`);
:func:`load_embedded` gives the real 1024-neuron problem shipped with kkpy;
:func:`generate` writes challenge-shaped networks and synthetic inputs.

The ``kkpy-dnn`` command (also ``python -m kkpy.dnn``) runs whole challenge
problems, checks them against the truth and reports the edge rate; under
``mpiexec -n P`` it splits the inputs across the ranks.

Examples
--------
>>> import numpy as np, scipy.sparse as sp
>>> from kkpy import dnn
>>> W = sp.csr_array(np.full((2, 2), 0.5))
>>> Y = dnn.infer(sp.csr_array(np.array([[1.0, 1.0], [0.0, 0.0]])), [W, W], bias=-0.25)
>>> dnn.categories(Y)
array([0])
"""
from ._infer import categories, challenge_epilogue, infer
from ._data import (bias_for, challenge_paths, embedded_available, image_row_nnz,
                    load_embedded, load_images, load_layers, load_truth, read_csr, write_csr)
from ._generate import generate, generate_layer

__all__ = ["infer", "categories", "challenge_epilogue",
           "bias_for", "challenge_paths", "embedded_available", "image_row_nnz",
           "load_embedded", "load_images", "load_layers", "load_truth", "read_csr",
           "write_csr", "generate", "generate_layer"]
