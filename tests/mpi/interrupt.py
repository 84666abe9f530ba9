"""Run under mpiexec -n 2; the test sends SIGINT to mpiexec mid-fit: every
rank stops after the same step with the same parameters and history."""
import hashlib

import numpy as np
from mpi4py import MPI

import jitmlp as jm

comm = MPI.COMM_WORLD
rng = np.random.default_rng(comm.rank)
X = rng.normal(size=(4000, 16))
y = X.sum(axis=1)
t = jm.Trainer(jm.MLP([16, 64, 64, 1], seed=0), jm.SGD(lr=1e-3),
               batch_size=4, epochs=10000, comm=comm)
t.step(X[:4], y[:4])   # kernels loaded
if comm.rank == 0:
    print("started", flush=True)
try:
    t.fit(X, y)
except KeyboardInterrupt:
    state = (t.optimizer.t, t.epoch, t.history.steps, t.history.interrupted,
             hashlib.sha256(t.model.params.tobytes()).hexdigest())
    states = comm.allgather(state)
    assert all(s == states[0] for s in states), states
    assert states[0][3]
    if comm.rank == 0:
        print(f"OK interrupted at optimizer step {state[0]}", flush=True)
