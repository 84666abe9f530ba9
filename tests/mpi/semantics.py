"""Run under mpiexec -n 2: the agreed semantics of Trainer(comm=...)."""
import os
import sys
import tempfile

import numpy as np
from mpi4py import MPI

import jitmlp as jm

comm = MPI.COMM_WORLD
assert comm.size == 2, f"launched with {comm.size} rank(s), expected 2"
rank = comm.rank


def same(what, value):
    vals = comm.allgather(value)
    assert all(v == vals[0] for v in vals), f"{what} differs: {vals}"


# shard of a memory-mapped file: contiguous rows, no copy
X, y = jm.datasets.make_spirals(300, n_classes=3, seed=0)
path = None
if rank == 0:
    path = os.path.join(tempfile.mkdtemp(), "X.npy")
    np.save(path, X)
path = comm.bcast(path)
Xm = np.load(path, mmap_mode="r")
Xr = jm.datasets.shard(Xm, comm)
yr = jm.datasets.shard(y, comm)
assert isinstance(Xr, np.memmap) and np.shares_memory(Xr, Xm)
assert Xr.shape[0] == 150 and np.array_equal(Xr, X[rank * 150:(rank + 1) * 150])

# validation (different sizes per rank), early stopping, schedules, uniform
# sampling: the History is the same on every rank
Xv, yv = jm.datasets.make_spirals(40 + 20 * rank, n_classes=3, seed=5 + rank)
model = jm.MLP([2, 32, 32, 3], loss="cross_entropy", norm="batch", seed=rank)
sched = jm.schedules.ReduceOnPlateau(patience=1, factor=0.5) \
    if hasattr(jm.schedules, "ReduceOnPlateau") else None
t = jm.Trainer(model, jm.Adam(lr=0.01), batch_size=16, epochs=6, seed=3,
               schedule=sched, early_stopping=True, patience=2, comm=comm)
assert t.is_root == (rank == 0)
h = t.fit(Xr, yr, validation_data=(Xv, yv))
for k in ("loss", "val_loss", "val_accuracy", "lr", "steps", "seconds",
          "samples_per_second", "epoch"):
    same(k, getattr(h, k))
same("grad_norms", [g.tolist() for g in h.grad_norms])
same("params", model.params.tobytes())
same("stats", model.stats.tobytes())
# validation loss: weighted over both ranks' rows
vl = comm.allgather((model.loss(Xv, yv), len(yv)))
want = sum(a * b for a, b in vl) / sum(b for _, b in vl)
assert abs(h.val_loss[-1] - want) < 1e-12 * abs(want), (h.val_loss, want)
# samples per epoch: all 300 rows (steps = ceil(150 / 16) = 10)
assert h.steps[0] == 10, h.steps

# a callback that stops on one rank only stops every rank after that epoch
t2 = jm.Trainer(jm.MLP([2, 8, 3], loss="cross_entropy", seed=0),
                jm.SGD(lr=0.1), batch_size=32, epochs=5, seed=0, comm=comm,
                callbacks=[lambda tr, hi: rank == 1 and len(hi) == 2])
h2 = t2.fit(Xr, yr)
same("callback stop", len(h2))
assert len(h2) == 2, len(h2)

# uniform sampling, shuffle per rank from (seed, rank, epoch)
t3 = jm.Trainer(jm.MLP([2, 8, 3], loss="cross_entropy", seed=0),
                jm.SGD(lr=0.1), batch_size=32, epochs=2, seed=0, comm=comm,
                sampling="uniform")
h3 = t3.fit(Xr, yr)
same("uniform", (h3.loss, h3.steps))

# divergence: every rank raises DivergenceError at the same step
Xd = np.ones((20, 2)) * (rank + 1)
yd = np.full((20,), 1e30)
t4 = jm.Trainer(jm.MLP([2, 8, 1], seed=0), jm.SGD(lr=1e10), batch_size=4,
                epochs=3, seed=0, comm=comm)
before = None
try:
    t4.fit(Xd, yd)
except jm.DivergenceError as e:
    where = (e.args[0].split(":")[0], t4.history.diverged_epoch,
             t4.optimizer.t)
else:
    where = None
assert where is not None, "no DivergenceError"
same("divergence", where)
assert all(np.isfinite(t4.model.params))
same("params after divergence", t4.model.params.tobytes())

# Trainer.step is collective: 3 rows + 5 rows equal one step on 8 rows
m5 = jm.MLP([2, 8, 3], loss="cross_entropy", norm="batch", seed=0)
t5 = jm.Trainer(m5, jm.Adam(lr=0.01), comm=comm, seed=0)
rows = slice(0, 3) if rank == 0 else slice(3, 8)
loss = t5.step(X[rows], y[rows])
ref = jm.MLP([2, 8, 3], loss="cross_entropy", norm="batch", seed=0)
rl = jm.Trainer(ref, jm.Adam(lr=0.01), seed=0).step(X[:8], y[:8])
assert abs(loss - rl) < 1e-12, (loss, rl)
np.testing.assert_allclose(m5.params, ref.params, rtol=1e-10, atol=1e-13)
np.testing.assert_allclose(m5.stats, ref.stats, rtol=1e-10, atol=1e-13)

# settings that differ between ranks: the same ValueError on every rank
try:
    jm.Trainer(jm.MLP([2, 8, 3], loss="cross_entropy", seed=0),
               jm.SGD(lr=0.1), batch_size=16 + rank, comm=comm).fit(Xr, yr)
except ValueError as e:
    assert "differs between ranks" in str(e), e
    msg = "raised"
else:
    msg = "no error"
same("mismatch", msg)
assert msg == "raised"

# saving on the root only
if t.is_root:
    t.model.save(os.path.join(os.path.dirname(path), "model.npz"))
comm.Barrier()
if rank == 0:
    print("OK semantics", flush=True)
