"""Run under mpiexec -n 2: data-parallel fits equal (1e-9 relative) one
process trained on the concatenation of the ranks' batches, for SGD,
momentum and Adam, with and without BatchNorm; ranks are bit-identical."""
import hashlib
import sys

import numpy as np
from mpi4py import MPI

import jitmlp as jm

comm = MPI.COMM_WORLD
assert comm.size == 2, f"launched with {comm.size} rank(s), expected 2"
rank = comm.rank
B = 8
rng = np.random.default_rng(0)
X = rng.normal(size=(68, 5))
y = rng.integers(0, 3, 68)
# unequal shards: 40 and 28 rows -> steps of 8+8, ..., 8+4, 8+0
cut = 40
shards = [(X[:cut], y[:cut]), (X[cut:], y[cut:])]
Xr, yr = shards[rank]


def digest(t):
    h = hashlib.sha256(t.model.params.tobytes() + t.model.stats.tobytes())
    for k in sorted(t.optimizer.state):
        h.update(t.optimizer.state[k].tobytes())
    return h.hexdigest()


def optimizers():
    return [("sgd", lambda: jm.SGD(lr=0.1)),
            ("momentum", lambda: jm.SGD(lr=0.05, momentum=0.9,
                                        nesterov=True)),
            ("adam", lambda: jm.Adam(lr=0.01))]


worst = 0.0
epochs = 3
for name, make in optimizers():
    for norm in (None, "batch"):
        # rank 1 starts from other weights: the broadcast must fix that
        model = jm.MLP([5, 16, 16, 3], loss="cross_entropy", norm=norm,
                       dtype="float64", seed=rank)
        init = model.params.copy() if rank == 0 else None
        t = jm.Trainer(model, make(), batch_size=B, epochs=epochs,
                       shuffle=False, seed=1, comm=comm)
        hist = t.fit(Xr, yr)
        ds = comm.allgather(digest(t))
        assert ds[0] == ds[1], f"{name}/{norm}: ranks differ"
        hs = comm.allgather((hist.loss, hist.steps))
        assert hs[0] == hs[1], f"{name}/{norm}: histories differ"
        assert hist.steps == [5] * epochs, hist.steps
        if rank == 0:
            ref = jm.MLP([5, 16, 16, 3], loss="cross_entropy", norm=norm,
                         dtype="float64", seed=0)
            assert np.array_equal(ref.params, init)
            rt = jm.Trainer(ref, make(), batch_size=B, seed=1)
            losses = []
            for e in range(epochs):
                tot = 0.0
                for s in range(5):
                    a, b = shards[0], shards[1]
                    xb = np.concatenate([a[0][s * B:(s + 1) * B],
                                         b[0][s * B:(s + 1) * B]])
                    yb = np.concatenate([a[1][s * B:(s + 1) * B],
                                         b[1][s * B:(s + 1) * B]])
                    tot += rt.step(xb, yb) * len(xb)
                losses.append(tot / 68)
            ref.eval()
            for got, want, what in ((model.params, ref.params, "params"),
                                    (model.stats, ref.stats, "stats"),
                                    (np.array(hist.loss), np.array(losses),
                                     "loss")):
                if want.size:
                    err = np.max(np.abs(got - want)) / np.max(np.abs(want))
                    worst = max(worst, err)
                    assert err < 1e-9, f"{name}/{norm} {what}: {err:.3g}"
            print(f"{name:9s} norm={norm}: max relative difference to one "
                  f"process {worst:.2e}", flush=True)
if rank == 0:
    print("OK equality", flush=True)
sys.stdout.flush()
