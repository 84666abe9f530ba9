"""BatchNorm and LayerNorm forward and backward kernels on (B, K) blocks."""
import numpy as np

from jitmlp.kernels import (batchnorm_backward, batchnorm_forward,
                            layernorm_backward, layernorm_forward)

from .common import Stable, pin


class Norm(Stable):
    params = (["batch", "layer"], [(256, 512), (32, 64)],
              ["float32", "float64"])
    param_names = ["norm", "shape", "dtype"]

    def setup(self, norm, shape, dtype):
        pin()
        B, K = shape
        r = np.random.default_rng(0)
        self.z0 = r.standard_normal((B, K)).astype(dtype)
        self.z = self.z0.copy()
        self.gamma = np.ones(K, dtype)
        self.beta = np.zeros(K, dtype)
        self.rm, self.rv = np.zeros(K, dtype), np.ones(K, dtype)
        self.xh = np.zeros((B, K), dtype)
        self.rs = np.zeros(max(B, K), dtype)
        self.v = np.zeros(4 * K, dtype)
        self.da = r.standard_normal((B, K)).astype(dtype)
        self.d = self.da.copy()
        self.dg, self.db = np.zeros(K, dtype), np.zeros(K, dtype)
        self.time_forward(norm, shape, dtype)
        self.time_backward(norm, shape, dtype)

    def time_forward(self, norm, shape, dtype):
        self.z[...] = self.z0
        if norm == "batch":
            batchnorm_forward(self.z, self.gamma, self.beta, self.rm, self.rv,
                              self.xh, self.rs[:shape[1]], self.v, True, True,
                              True, 0.1, 1e-5)
        else:
            layernorm_forward(self.z, self.gamma, self.beta, self.xh,
                              self.rs[:shape[0]], True, 1e-5)

    def time_backward(self, norm, shape, dtype):
        self.d[...] = self.da
        if norm == "batch":
            batchnorm_backward(self.d, self.xh, self.rs[:shape[1]], self.gamma,
                               self.dg, self.db, self.v)
        else:
            layernorm_backward(self.d, self.xh, self.rs[:shape[0]], self.gamma,
                               self.dg, self.db)
