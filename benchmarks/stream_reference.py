"""The scipy reference categories of a challenge network in files, one layer at a time.

Memory holds one layer and the activations, as ``kkpy-dnn run --stream``
does, so it checks networks too large to load (float64 scipy, one thread):

    python benchmarks/stream_reference.py DIR NEURONS LAYERS OUT.tsv

``OUT.tsv`` gets the 1-based categories, one per line, as ``kkpy-dnn run
--categories-out`` writes them; compare the two files.
"""
import sys

import numpy as np


def main(data, neurons, layers, out):
    import scipy.sparse as sp

    from kkpy.dnn._data import LayerFiles, bias_for, load_images
    from kkpy.dnn._peers import scipy_infer

    Y = sp.csr_array(load_images(data, neurons, cache=False).astype(np.float64))
    bias = bias_for(neurons)
    for W in LayerFiles(data, neurons, layers, cache=False):
        Y = scipy_infer(Y, [W], bias, 32.0, dtype=np.float64)
    cats = np.flatnonzero(Y.sum(axis=1)) + 1
    np.savetxt(out, cats, fmt="%d")
    print(f"{len(cats)} categories written to {out}")


if __name__ == "__main__":
    __import__("_script")  # refuses another checkout's kkpy, as asv does

    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
