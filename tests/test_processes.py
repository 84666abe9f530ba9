"""Processes, threads and installs (issue 9, items 12-15).

Every scenario runs in a fresh Python process: the state under test (Numba's
threading layer, the BLAS loaded or not, the cache location chosen at import)
is fixed once per process.  The children import jitmlp from the same folder
as this test process (the worktree in development, site-packages in CI).

Slow test (marked ``slow``): the read-only install (~30 s: it compiles the
float32 kernels cold in a fresh cache, the only test of the suite that does).
The fork test takes ~2 s when it passes; when the threading layer is not
fork-safe it waits for its 120 s timeout, then terminates the pool.
"""
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import textwrap

import pytest

import jitmlp

PKG_DIR = os.path.dirname(os.path.abspath(jitmlp.__file__))
SRC_DIR = os.path.dirname(PKG_DIR)

slow = pytest.mark.slow


def child_env(pythonpath=SRC_DIR, **overrides):
    """The environment of a child: jitmlp from ``pythonpath``; a value of
    None in ``overrides`` removes that variable."""
    env = dict(os.environ)
    env["PYTHONPATH"] = pythonpath + (os.pathsep + env["PYTHONPATH"]
                                      if env.get("PYTHONPATH") else "")
    for k, v in overrides.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env


def run_child(code, *, env=None, timeout=300, preexec_fn=None, cwd=None):
    r = subprocess.run([sys.executable, "-c", textwrap.dedent(code)],
                       env=child_env() if env is None else env,
                       capture_output=True, text=True, timeout=timeout,
                       preexec_fn=preexec_fn, cwd=cwd)
    assert r.returncode == 0, (f"child failed ({r.returncode})\n--- stdout\n"
                               f"{r.stdout}\n--- stderr\n{r.stderr}")
    return r


# --------------------------------------------------------------- 12: fork

FORK_SCRIPT = """
import multiprocessing as mp
import sys

import numpy as np

import jitmlp as jm


def train(width):
    r = np.random.default_rng(width)
    X = r.standard_normal((64, width)).astype(np.float32)
    y = X[:, :3].sum(axis=1)
    m = jm.MLP([width, width, 1], dtype="float32", seed=0)
    jm.Trainer(m, jm.Adam(lr=1e-3), batch_size=64, epochs=1).fit(X, y)
    return width, bool(np.isfinite(m.predict(X[:4])).all())


if __name__ == "__main__":
    jm.set_num_threads(2)
    # 1500 x 1500 = 2.25M weights >= 2^21: the parallel update runs here
    print("parent", train(1500), flush=True)
    import numba
    print("layer", numba.threading_layer(), flush=True)
    pool = mp.get_context("fork").Pool(2)
    try:
        res = pool.map_async(train, [8, 1500, 16, 1500]).get(timeout=120)
    except mp.TimeoutError:
        print("TIMEOUT: the fork pool never returned", flush=True)
        pool.terminate()
        sys.exit(3)
    pool.close()
    pool.join()
    print("children", res, flush=True)
"""


@pytest.mark.skipif(sys.platform != "linux", reason="fork start method: Linux")
def test_fork_pool_after_a_parallel_fit(tmp_path):
    script = tmp_path / "fork_after_fit.py"
    script.write_text(FORK_SCRIPT)
    env = child_env(NUMBA_THREADING_LAYER=None, NUMBA_NUM_THREADS=None)
    r = subprocess.run([sys.executable, str(script)], env=env,
                       capture_output=True, text=True, timeout=240)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert "children [(8, True), (1500, True), (16, True), (1500, True)]" in out
    assert "layer omp" not in out  # GNU OpenMP is not fork-safe


def test_threading_layer_choice_and_user_precedence():
    code = """
        import numba
        import jitmlp as jm
        jm.set_num_threads(1)
        print(numba.threading_layer())
    """
    layer = run_child(code, env=child_env(NUMBA_THREADING_LAYER=None)).stdout
    assert layer.strip() in ("tbb", "workqueue")
    # the user's environment variable wins
    layer = run_child(code, env=child_env(NUMBA_THREADING_LAYER="omp")).stdout
    assert layer.strip() == "omp"
    # a layer that the program launched before importing jitmlp is kept
    code = """
        import numba
        numba.config.THREADING_LAYER = "omp"
        numba.get_num_threads()
        import numpy as np
        import jitmlp as jm
        jm.set_num_threads(2)
        m = jm.MLP([3, 4, 1], seed=0)
        jm.Trainer(m, jm.SGD(lr=0.1), batch_size=4, epochs=1).fit(
            np.ones((8, 3)), np.ones(8))
        print(numba.threading_layer())
    """
    layer = run_child(code, env=child_env(NUMBA_THREADING_LAYER=None)).stdout
    assert layer.strip() == "omp"


# ------------------------------------------------------ 13: BLAS threads

BLAS_SCRIPT = """
import sys
block = {block}
if block:  # the ctypes fallback: threadpoolctl not importable
    sys.modules["threadpoolctl"] = None
import numpy as np
import jitmlp as jm
jm.set_num_threads(1)
X = np.random.default_rng(0).standard_normal((256, 64))
m = jm.MLP([64, 64, 1], seed=0)
jm.Trainer(m, jm.SGD(lr=0.01), batch_size=64, epochs=1).fit(X, X[:, 0])
del sys.modules["threadpoolctl"]
import threadpoolctl
for lib in threadpoolctl.threadpool_info():
    if lib["internal_api"] == "openblas" and "scipy" in lib["filepath"]:
        print(lib["filepath"], lib["num_threads"])
"""


@pytest.mark.parametrize("block", [False, True],
                         ids=["threadpoolctl", "ctypes"])
def test_set_num_threads_before_the_first_fit_reaches_scipy_blas(block):
    pytest.importorskip("threadpoolctl")
    env = child_env(OMP_NUM_THREADS="2", OPENBLAS_NUM_THREADS=None,
                    GOTO_NUM_THREADS=None)
    out = run_child(BLAS_SCRIPT.format(block=block), env=env).stdout
    libs = [line.rsplit(" ", 1) for line in out.splitlines()]
    scipy_libs = [(p, int(n)) for p, n in libs if "scipy.libs" in p]
    assert scipy_libs, out      # SciPy's OpenBLAS, the one np.dot calls
    assert all(n == 1 for _, n in scipy_libs), out


def test_set_num_threads_validates_its_argument():
    np = pytest.importorskip("numpy")
    prev = jitmlp.get_num_threads()
    try:
        assert jitmlp.set_num_threads(np.int64(1)) == prev
        assert jitmlp.get_num_threads() == 1
        for bad in (True, np.bool_(True), 0, -1, 1.0, "2", None):
            with pytest.raises((TypeError, ValueError)):
                jitmlp.set_num_threads(bad)
    finally:
        jitmlp.set_num_threads(prev)
