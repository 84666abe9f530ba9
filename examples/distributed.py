"""Data-parallel training on several processes (MPI).

Each rank trains on its own contiguous shard of the spirals data (memory
mapped from one .npy file: a rank reads and copies only its rows), gradients
are averaged every step, BatchNorm statistics are those of the global batch,
and every rank ends with the same parameters.  Rank 0 prints the History and
saves the model.  Also runs as a single process (without mpiexec).

    pip install -e ".[mpi]"          # in the repository's clone
    mpiexec -bind-to core -n 2 python -m mpi4py examples/distributed.py [--quick]
"""
import argparse
import os
import tempfile

import numpy as np

import jitmlp as jm


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a few epochs")
    ap.add_argument("--outdir", default=None,
                    help="folder for data and model (default: a temporary one)")
    args = ap.parse_args()
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    rank = comm.rank
    # ranks x threads <= cores: more threads than cores wait on each other
    jm.set_num_threads(max(1, (os.cpu_count() or 1) // comm.size))

    # rank 0 writes the data once; every rank maps it and takes its rows
    outdir = args.outdir
    if rank == 0:
        outdir = outdir or tempfile.mkdtemp(prefix="jitmlp-distributed-")
        X, y = jm.datasets.make_spirals(6000, n_classes=3, seed=0)
        np.save(os.path.join(outdir, "X.npy"), X)
        np.save(os.path.join(outdir, "y.npy"), y)
        Xv, yv = jm.datasets.make_spirals(1000, n_classes=3, seed=1)
        np.save(os.path.join(outdir, "Xv.npy"), Xv)
        np.save(os.path.join(outdir, "yv.npy"), yv)
    outdir = comm.bcast(outdir, root=0)

    def load_shard(name):
        return jm.datasets.shard(
            np.load(os.path.join(outdir, name), mmap_mode="r"), comm)

    X, y = load_shard("X.npy"), load_shard("y.npy")
    Xv, yv = load_shard("Xv.npy"), load_shard("yv.npy")

    model = jm.MLP([2, 64, 64, 3], loss="cross_entropy", norm="batch", seed=0)
    trainer = jm.Trainer(model, jm.Adam(lr=0.01), batch_size=64,
                         epochs=3 if args.quick else 30, seed=0,
                         early_stopping=True, patience=5, comm=comm)
    hist = trainer.fit(X, y, validation_data=(Xv, yv))
    if trainer.is_root:   # the same History and parameters on every rank
        print(f"{comm.size} rank(s), {X.shape[0]} rows on rank 0: {hist}")
        path = os.path.join(outdir, "model.npz")
        model.save(path)
        # early stopping put the best epoch's weights back: report theirs
        i = hist.best_epoch if hist.stopped_early else -1
        print(f"saved {path}; validation accuracy of the saved weights "
              f"{hist.val_accuracy[i]:.3f}")


if __name__ == "__main__":
    main()
