"""One process, Trainer(comm=MPI.COMM_SELF) against the fused single-process
kernel (shuffle off): the per-step loop and the layer-by-layer BatchNorm
path give the same training to rounding.  Run first by tests/test_mpi.py
in a plain subprocess: it also compiles the MPI-path kernels once before
the 2-rank tests start (two ranks would otherwise both compile them)."""
import numpy as np
from mpi4py import MPI

import jitmlp as jm

X, y = jm.datasets.make_spirals(200, n_classes=3, seed=0)
for norm in (None, "batch", "layer"):
    for opt in (lambda: jm.SGD(lr=0.1, momentum=0.9), lambda: jm.Adam(lr=0.01)):
        ms = []
        for comm in (None, MPI.COMM_SELF):
            m = jm.MLP([2, 16, 16, 3], loss="cross_entropy", norm=norm,
                       residual=norm == "layer", seed=0)
            jm.Trainer(m, opt(), batch_size=16, epochs=2, shuffle=False,
                       clip_grad_norm=1.0, comm=comm).fit(X, y)
            ms.append(m)
        for a, b in ((ms[0].params, ms[1].params), (ms[0].stats, ms[1].stats)):
            if a.size:
                err = np.max(np.abs(a - b)) / np.max(np.abs(a))
                assert err < 1e-12, (norm, err)
print("OK self", flush=True)
