"""Data-parallel scaling over MPI: samples/s on 1 and 2 ranks beside the
machine's ceiling (2 independent processes, no communication).

Configuration: mnist-sized network 784-[256,256]-10, ReLU, cross-entropy,
Adam, float32, batch_size 128 per rank, synthetic data (no download), one
Numba and one BLAS thread per process.  Every run is a fresh process; the
first epoch (kernel loading) is not timed, the best of the timed epochs is
reported.

    python benchmarks/scaling_mpi.py [--steps 60] [--epochs 3] [--bind core]

Ranks are bound to cores (MPICH's ``-bind-to core``) unless ``--bind none``.

Reports, samples/s:
  solo       1 process, Trainer without comm (the fused whole-epoch kernel)
  rank1      mpiexec -n 1, Trainer(comm=...): the per-step Python loop
  rank2      mpiexec -n 2, the global rate
  ceiling    2 solo processes at once, no communication: their sum is what
             the machine gives 2 processes (shared caches, memory bandwidth,
             turbo); efficiency = rank2 / (2 * rank1), ceiling = that sum /
             (2 * solo)
Needs mpi4py and mpiexec (pip install -e ".[mpi]" in the repository).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

SIZES = [784, 256, 256, 10]
BATCH = 128


def worker(mode, steps, epochs):
    import numpy as np

    import jitmlp as jm
    comm = None
    rank = 0
    if mode == "mpi":
        from mpi4py import MPI
        comm = MPI.COMM_WORLD
        rank = comm.rank
    rng = np.random.default_rng(rank)
    n = steps * BATCH
    X = rng.random((n, SIZES[0]), dtype=np.float32)
    y = rng.integers(0, SIZES[-1], n)
    model = jm.MLP(SIZES, loss="cross_entropy", dtype="float32", seed=0)
    t = jm.Trainer(model, jm.Adam(lr=1e-3), batch_size=BATCH, epochs=1,
                   seed=0, comm=comm, track_grad_norms=False)
    t.fit(X, y)                      # loads the kernels
    best = 0.0
    for _ in range(epochs):
        h = t.fit(X, y)
        best = max(best, h.samples_per_second[-1])
    # Allreduce of the gradient buffer alone, per step
    allreduce_ms = None
    if comm is not None:
        buf = np.zeros(model.n_params + 3, np.float32)
        comm.Barrier()
        tic = time.perf_counter()
        for _ in range(50):
            comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
        allreduce_ms = (time.perf_counter() - tic) / 50 * 1e3
    if rank == 0:
        print(json.dumps({"samples_per_s": best, "n_params": model.n_params,
                          "allreduce_ms": allreduce_ms}), flush=True)


def child_env():
    env = dict(os.environ)
    env.update(NUMBA_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    src = os.path.join(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))), "src")
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"]
                               if env.get("PYTHONPATH") else "")
    return env


def launch(cmd):
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True,
                            env=child_env())


def result(p):
    out, _ = p.communicate(timeout=900)
    if p.returncode != 0:
        sys.exit(f"benchmark child failed ({p.returncode})")
    return json.loads(out.strip().splitlines()[-1])


def main(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=60,
                    help="steps per epoch per rank (default 60)")
    ap.add_argument("--epochs", type=int, default=3,
                    help="timed epochs, best reported (default 3)")
    ap.add_argument("--bind", choices=["core", "none"], default="core",
                    help="mpiexec's process binding (MPICH's -bind-to; "
                         "default core: one rank per core; none lets the OS "
                         "move ranks, which measured up to 3x slower "
                         "Allreduces here)")
    ap.add_argument("--worker", choices=["solo", "mpi"], help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.worker:
        return worker(a.worker, a.steps, a.epochs)
    mpiexec = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    if not os.access(mpiexec, os.X_OK):
        mpiexec = shutil.which("mpiexec")
    if mpiexec is None:
        sys.exit("mpiexec not found: pip install -e '.[mpi]' in the "
                 "repository")
    me = [os.path.abspath(__file__), "--steps", str(a.steps), "--epochs",
          str(a.epochs)]
    solo_cmd = [sys.executable] + me + ["--worker", "solo"]
    res = {}
    res["solo"] = result(launch(solo_cmd))
    pair = [launch(solo_cmd), launch(solo_cmd)]
    res["ceiling"] = {"samples_per_s": sum(result(p)["samples_per_s"]
                                           for p in pair)}
    for n in (1, 2):
        res[f"rank{n}"] = result(launch(
            [mpiexec, "-bind-to", a.bind, "-n", str(n), sys.executable, "-m", "mpi4py"] + me
            + ["--worker", "mpi"]))
    solo = res["solo"]["samples_per_s"]
    r1 = res["rank1"]["samples_per_s"]
    print(f"784-256-256-10 Adam float32, B={BATCH} per rank, "
          f"{res['solo']['n_params']} parameters, 1 thread per process")
    print(f"{'run':34s} {'samples/s':>10s} {'efficiency':>10s}")
    print(f"{'1 process, no comm (fused kernel)':34s} {solo:10.0f}")
    print(f"{'1 rank, comm (per-step loop)':34s} {r1:10.0f} "
          f"{r1 / solo:10.2f}")
    print(f"{'2 ranks, comm':34s} {res['rank2']['samples_per_s']:10.0f} "
          f"{res['rank2']['samples_per_s'] / (2 * r1):10.2f}")
    print(f"{'ceiling: 2 processes, no comm':34s} "
          f"{res['ceiling']['samples_per_s']:10.0f} "
          f"{res['ceiling']['samples_per_s'] / (2 * solo):10.2f}")
    print(f"Allreduce of the gradient ({4 * res['solo']['n_params'] / 1e6:.2f}"
          f" MB) alone: {res['rank2']['allreduce_ms']:.2f} ms on 2 ranks")


if __name__ == "__main__":
    main()
