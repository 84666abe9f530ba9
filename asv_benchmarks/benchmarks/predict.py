"""Inference throughput (evaluation mode, chunked forward pass)."""
import numpy as np

import jitmlp as jm

from .common import Stable, cpu_rate, pin


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
        # CPU time (see common.Stable, common.cpu_rate)
        return cpu_rate(lambda: self.model.forward(self.X), self.X.shape[0])
    track_rows_per_second.unit = "rows/s"
