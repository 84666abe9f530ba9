"""Run under mpiexec -n 2 python -m mpi4py: rank 1 raises at step 3; the
job must end (non-zero) within seconds, not hang rank 0 in a collective."""
import numpy as np
from mpi4py import MPI

import jitmlp as jm

comm = MPI.COMM_WORLD
X = np.random.default_rng(comm.rank).normal(size=(64, 4))
y = X.sum(axis=1)
t = jm.Trainer(jm.MLP([4, 8, 1], seed=0), jm.SGD(lr=0.01), batch_size=8,
               comm=comm)
for s in range(1000):
    if comm.rank == 1 and s == 3:
        raise RuntimeError("rank 1 failed at step 3")
    t.step(X[:8], y[:8])
