"""Data-parallel training over MPI (issue 14).

Each test launches its own ``mpiexec -n 2 python -m mpi4py script`` on a
script of tests/mpi/ (the scripts assert on every rank and print "OK ...").
Skipped, with the reason shown, when mpi4py or its mpiexec is missing
(``pip install -e ".[mpi]"``; the ``test`` extra installs both).
"""
import os
import shutil
import subprocess
import sys
import time

import pytest

import jitmlp

HERE = os.path.dirname(os.path.abspath(__file__))
SRC_DIR = os.path.dirname(os.path.dirname(os.path.abspath(jitmlp.__file__)))

try:
    import mpi4py  # noqa: F401
    HAVE_MPI4PY = True
except ImportError:
    HAVE_MPI4PY = False


def find_mpiexec():
    # the mpiexec beside this Python first (the mpich wheel's), then PATH
    cand = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    return cand if os.access(cand, os.X_OK) else shutil.which("mpiexec")


MPIEXEC = find_mpiexec()
needs_mpi = pytest.mark.skipif(
    not HAVE_MPI4PY or MPIEXEC is None,
    reason="mpi4py or mpiexec not installed (pip install -e '.[mpi]')")


def env(**extra):
    e = dict(os.environ)
    e["PYTHONPATH"] = SRC_DIR + (os.pathsep + e["PYTHONPATH"]
                                 if e.get("PYTHONPATH") else "")
    # one thread each: two ranks share the CI machine's cores
    e.update(NUMBA_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
             OMP_NUM_THREADS="1")
    e.update(extra)
    return e


def mpirun(script, n=2, timeout=240):
    cmd = [MPIEXEC, "-n", str(n), sys.executable, "-m", "mpi4py",
           os.path.join(HERE, "mpi", script)]
    tic = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                       env=env())
    return r, time.perf_counter() - tic


@needs_mpi
def test_comm_self_equals_the_fused_kernel():
    """Runs first: also compiles the MPI path's kernels in one process."""
    r = subprocess.run([sys.executable, os.path.join(HERE, "mpi",
                                                     "self_comm.py")],
                       capture_output=True, text=True, timeout=600,
                       env=env())
    assert r.returncode == 0, r.stdout + r.stderr
    assert "OK self" in r.stdout


@needs_mpi
def test_two_ranks_equal_one_process_on_the_concatenated_batches():
    """SGD, momentum, Adam x with/without BatchNorm, float64, unequal shards:
    2 ranks == 1 process to 1e-9 relative; ranks bit-identical."""
    r, _ = mpirun("equality.py")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "OK equality" in r.stdout


@needs_mpi
def test_semantics():
    """Sharding a memmap, identical History/validation/early stopping on all
    ranks, one rank's callback stops all, DivergenceError on all ranks at
    the same step, collective Trainer.step, mismatched settings refused."""
    r, _ = mpirun("semantics.py")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "OK semantics" in r.stdout


@needs_mpi
def test_an_exception_on_one_rank_ends_the_job():
    r, secs = mpirun("fail.py", timeout=60)
    assert r.returncode != 0
    assert "rank 1 failed at step 3" in r.stderr
    assert secs < 30, secs


@needs_mpi
def test_mismatched_launch_is_reported():
    """A launcher announcing 2 processes to a 1-rank world (another MPI's
    mpiexec) is an error, not a silent single-process run."""
    code = ("from mpi4py import MPI; import jitmlp as jm\n"
            "try:\n"
            "    jm.Trainer(jm.MLP([2, 1]), jm.SGD(), comm=MPI.COMM_WORLD)\n"
            "except RuntimeError as e:\n"
            "    print('REFUSED', e)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True,
                       text=True, timeout=60,
                       env=env(OMPI_COMM_WORLD_SIZE="2"))
    assert "REFUSED mismatched MPI launch" in r.stdout, r.stdout + r.stderr


def test_import_does_not_load_mpi4py():
    code = ("import sys, jitmlp as jm\n"
            "jm.Trainer(jm.MLP([2, 1]), jm.SGD())\n"
            "assert 'mpi4py' not in sys.modules\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True,
                       text=True, timeout=120, env=env())
    assert r.returncode == 0, r.stderr


def test_shard_splits_rows_without_copying(tmp_path):
    import numpy as np
    a = np.arange(20.0).reshape(10, 2)
    np.save(tmp_path / "a.npy", a)
    m = np.load(tmp_path / "a.npy", mmap_mode="r")
    parts = [jitmlp.datasets.shard(m, rank=r, size=3) for r in range(3)]
    assert [p.shape[0] for p in parts] == [3, 3, 4]
    assert all(np.shares_memory(p, m) for p in parts)
    assert np.array_equal(np.concatenate(parts), a)
    with pytest.raises(ValueError):
        jitmlp.datasets.shard(a, rank=3, size=3)


@needs_mpi
def test_distributed_example_runs(tmp_path):
    cmd = [MPIEXEC, "-n", "2", sys.executable, "-m", "mpi4py",
           os.path.join(HERE, os.pardir, "examples", "distributed.py"),
           "--quick", "--outdir", str(tmp_path)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=240,
                       env=env())
    assert r.returncode == 0, r.stdout + r.stderr
    assert "saved" in r.stdout and (tmp_path / "model.npz").exists()


@needs_mpi
def test_ctrl_c_stops_every_rank_after_the_same_step():
    """SIGINT to mpiexec (which forwards it to every rank) mid-fit: all ranks
    raise KeyboardInterrupt with the same step count, history and params."""
    import signal
    cmd = [MPIEXEC, "-n", "2", sys.executable, "-m", "mpi4py",
           os.path.join(HERE, "mpi", "interrupt.py")]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env=env())
    try:
        assert "started" in p.stdout.readline()
        time.sleep(1.0)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    assert "OK interrupted" in out, out + err


@needs_mpi
def test_launch_without_python_m_mpi4py_warns():
    code = ("import warnings; from mpi4py import MPI; import jitmlp as jm\n"
            "with warnings.catch_warnings(record=True) as w:\n"
            "    warnings.simplefilter('always')\n"
            "    jm.Trainer(jm.MLP([2, 1]), jm.SGD(), comm=MPI.COMM_WORLD)\n"
            "print('WARNED' if any('python -m mpi4py' in str(x.message)\n"
            "                      for x in w) else 'SILENT')\n")
    r = subprocess.run([MPIEXEC, "-n", "2", sys.executable, "-c", code],
                       capture_output=True, text=True, timeout=120, env=env())
    # (mpiexec merges the ranks' output: one rank's "WARNED" may come between
    # the other's word and its newline, seen as "WARNEDWARNED\n\n")
    assert r.stdout.count("WARNED") == 2 and "SILENT" not in r.stdout, \
        r.stdout + r.stderr
