"""Inference throughput (evaluation mode, chunked forward pass)."""
import time

import numpy as np

import jitmlp as jm

from .common import Stable, pin


class Predict(Stable):
    params = ([[784, 256, 256, 10], [128, 512, 512, 512, 512, 10],
               [32, 64, 64, 1]], ["float32", "float64"])
    param_names = ["sizes", "dtype"]

    def setup(self, sizes, dtype):
        pin()
        self.model = jm.MLP(sizes, loss="squared", dtype=dtype, seed=0).eval()
        self.X = np.random.default_rng(0).standard_normal(
            (8192, sizes[0])).astype(dtype)
        self.model.forward(self.X[:10])

    def time_forward(self, sizes, dtype):
        self.model.forward(self.X)

    def track_rows_per_second(self, sizes, dtype):
        # CPU time, best of 3 (see common.Stable)
        best = 0.0
        for _ in range(3):
            t = time.process_time()
            self.model.forward(self.X)
            best = max(best, self.X.shape[0] / (time.process_time() - t))
        return best
    track_rows_per_second.unit = "rows/s"
