"""First-call cost, on purpose: asv runs every benchmark in a fresh process,
so these time loading the kernels from Numba's on-disk cache (warm) plus the
first fit.  Each repeat is a new process (``number = 1``); CPU time, as
the other benchmarks (common.Stable), on one thread."""
import time

import numpy as np


class FirstCall:
    timer = time.process_time
    number = 1
    repeat = 3
    timeout = 600
    params = (["float32", "float64"],)
    param_names = ["dtype"]

    def setup(self, dtype):
        self.X = np.random.default_rng(0).standard_normal((256, 32))
        self.y = self.X[:, 0]

    def time_import_and_first_fit(self, dtype):
        import jitmlp as jm
        jm.set_num_threads(1)
        m = jm.MLP([32, 64, 1], dtype=dtype, seed=0)
        jm.Trainer(m, jm.SGD(lr=0.01), epochs=1, seed=0).fit(self.X, self.y)

    def time_first_predict(self, dtype):
        import jitmlp as jm
        jm.set_num_threads(1)
        jm.MLP([32, 64, 1], dtype=dtype, seed=0).eval().predict(self.X)
