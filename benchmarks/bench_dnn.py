"""DNN benchmarks (asv): the challenge's layers through kkpy.dnn, beside scipy.

- ``RealNetwork``: the embedded official 1024 x 120 network on its 1200 real
  images, and the same rows repeated to 12000, with ``infer`` on a prepared
  chain (the timed part of ``kkpy-dnn run``), against the scipy reference;
  ``track_speedup`` gives the ratio measured in one process.
- ``Layer``: one layer (SpGEMM chain of length 1) on 12000 rows, the unit of
  work the per-layer statistics report.

Run with ``asv run --python=same -b bench_dnn``; ``kkpy-dnn bench`` gives the
full side-by-side table with GraphBLAS.
"""
from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp

import kkpy
from kkpy.dnn import _data
from kkpy.dnn._infer import infer
from kkpy.dnn._peers import scipy_infer
from kkpy.sparse import prepare_chain


def _problem(copies):
    layers, Y, truth, bias, n = _data.load_embedded()
    Y0 = sp.csr_array(Y.to_scipy() if hasattr(Y, "to_scipy") else Y)
    Y0 = sp.vstack([Y0] * copies, format="csr")
    mats = [sp.csr_array(W.to_scipy() if hasattr(W, "to_scipy") else W) for W in layers]
    return Y0, mats, bias


class RealNetwork:
    params = [1, 10]
    param_names = ["copies of the 1200 real images"]
    timeout = 600

    def setup(self, copies):
        self.Y0, self.mats, self.bias = _problem(copies)
        self.chain = prepare_chain(self.mats)
        self.space = kkpy.DefaultExecutionSpace()
        infer(self.Y0[:64], self.chain, self.bias, space=self.space)  # compile outside timing

    def time_kkpy_infer(self, copies):
        infer(self.Y0, self.chain, self.bias, space=self.space)

    def time_scipy_reference(self, copies):
        scipy_infer(self.Y0, self.mats, self.bias)

    def track_speedup(self, copies):
        t0 = time.perf_counter()
        infer(self.Y0, self.chain, self.bias, space=self.space)
        t1 = time.perf_counter()
        scipy_infer(self.Y0, self.mats, self.bias)
        t2 = time.perf_counter()
        return (t2 - t1) / (t1 - t0)

    track_speedup.unit = "x"


class Layer:
    timeout = 300

    def setup(self):
        self.Y0, mats, self.bias = _problem(10)
        self.chain = prepare_chain(mats[:1])
        self.space = kkpy.DefaultExecutionSpace()
        infer(self.Y0[:64], self.chain, self.bias, space=self.space)

    def time_first_layer(self):
        infer(self.Y0, self.chain, self.bias, space=self.space)

    def track_edges_per_second(self):
        t0 = time.perf_counter()
        infer(self.Y0, self.chain, self.bias, space=self.space)
        return self.Y0.shape[0] * self.chain.nnz / (time.perf_counter() - t0)

    track_edges_per_second.unit = "edges/s"


if __name__ == "__main__":
    __import__("_script")  # refuses another checkout's kkpy, as asv does

    b = RealNetwork()
    b.setup(1)
    print("speed-up over scipy, 1200 real images:", round(b.track_speedup(1), 2))
