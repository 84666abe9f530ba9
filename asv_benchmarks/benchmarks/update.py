"""Each optimizer's fused update over the flat buffer of a 784-256-256-10 net."""
import numba
import numpy as np

import jitmlp as jm
from jitmlp.kernels import apply_update
from jitmlp.kernels.update import parallel_parts

from .common import Stable, optimizer, pin


class Update(Stable):
    params = (["sgd", "momentum", "adam", "adamw", "rmsprop", "adagrad"],
              ["float32", "float64"])
    param_names = ["optimizer", "dtype"]

    def setup(self, kind, dtype):
        pin()
        self.model = jm.MLP([784, 256, 256, 10], dtype=dtype, seed=0)
        self.opt = optimizer(kind)
        self.opt.bind(self.model)
        self.grad = np.random.default_rng(0).standard_normal(
            self.model.params.size).astype(dtype) * 1e-3
        self.hyper = self.opt.hyper()
        self.state = self.opt._state_tuple(self.model.dtype)
        self.parts = parallel_parts(self.model._layout.segments,
                                    numba.get_num_threads())
        self.time_update(kind, dtype)

    def time_update(self, kind, dtype):
        m = self.model
        # (the update writes the old parameters over its gradient buffer; the
        # values that then serve as gradients cost the same to update)
        apply_update(m.params, self.grad, m._layout.segments, self.hyper,
                     self.state, 1e-4, 10, 1.0, self.parts)
