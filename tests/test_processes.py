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
import functools
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


# ------------------------------------------------ 14: read-only installs

def _copy_package(dest_root):
    """A copy of the imported jitmlp package (no caches) under dest_root."""
    dest = os.path.join(dest_root, "jitmlp")
    shutil.copytree(PKG_DIR, dest,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return dest


def _make_read_only(top):
    for root, dirs, files in os.walk(top, topdown=False):
        for f in files:
            os.chmod(os.path.join(root, f), 0o444)
        os.chmod(root, 0o555)


def _make_writable(top):
    for root, dirs, files in os.walk(top):
        os.chmod(root, 0o755)
        for f in files:
            os.chmod(os.path.join(root, f), 0o644)


@functools.lru_cache(maxsize=None)
def _unprivileged():
    """(preexec_fn, who): how to run a child that permission bits apply to;
    (False, why) where that cannot be done (the tests that need it are
    skipped by the marker below, with that reason).

    Root bypasses them, so as root: the user 'nobody' when it can run this
    Python; else root without the capabilities that bypass permission bits
    (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER, dropped from the
    bounding set, so that they are gone after exec) -- e.g. when this Python
    lives under /root (mode 0700), where 'nobody' cannot reach it."""
    if os.name != "posix":
        return False, "POSIX permissions only"
    if os.geteuid() != 0:
        return None, f"uid {os.geteuid()}"
    candidates = []
    try:
        import pwd
        nob = pwd.getpwnam("nobody")

        def as_nobody():
            os.setgroups([])
            os.setgid(nob.pw_gid)
            os.setuid(nob.pw_uid)
        candidates.append((as_nobody, "user nobody"))
    except (ImportError, KeyError):
        pass

    def drop_dac_caps():
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        PR_CAPBSET_DROP = 24
        for cap in (1, 2, 3):  # DAC_OVERRIDE, DAC_READ_SEARCH, FOWNER
            if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
                raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")
    candidates.append((drop_dac_caps, "root without CAP_DAC_OVERRIDE"))
    probe = tempfile.mkdtemp()
    try:
        os.chmod(probe, 0o555)
        for fn, who in candidates:
            # usable if it runs this Python with numba, and a read-only
            # folder of root's really is read-only for it
            code = ("import numba, os, sys\n"
                    "try:\n"
                    f"    open(os.path.join({probe!r}, 'x'), 'w')\n"
                    "except PermissionError:\n"
                    "    sys.exit(0)\n"
                    "sys.exit(5)\n")
            try:
                r = subprocess.run([sys.executable, "-c", code],
                                   preexec_fn=fn, capture_output=True,
                                   timeout=60)
            except (subprocess.SubprocessError, OSError):
                continue
            if r.returncode == 0:
                return fn, who
    finally:
        os.chmod(probe, 0o755)
        shutil.rmtree(probe, ignore_errors=True)
    return False, ("running as root and no way to run without the "
                   "privilege to bypass permission bits (no usable 'nobody', "
                   "cannot drop capabilities): a read-only install cannot be "
                   "simulated")


# evaluated when a marked test is about to run, not at collection
needs_unprivileged = pytest.mark.skipif(
    "_unprivileged()[0] is False",
    reason="no way to run a child that permission bits apply to (POSIX "
           "only; as root, 'nobody' or dropping the DAC capabilities)")


READ_ONLY_CHILD = """
import os, sys, tempfile, warnings
pkg_root = {pkg_root!r}
if {no_tmp!r}:  # gettempdir() would fall back to /tmp: pretend it is full
    tempfile.tempdir = os.environ["HOME"]
try:  # the install really is read-only for this process
    open(os.path.join(pkg_root, "jitmlp", "kernels", "x"), "w")
    sys.exit("the package folder is writable: nothing is tested")
except PermissionError:
    pass
with warnings.catch_warnings(record=True) as w:
    warnings.simplefilter("always")
    import jitmlp as jm
msgs = [str(x.message) for x in w if "jitmlp" in str(x.message)]
assert len(msgs) == 1, msgs
print("WARNING", msgs[0])
from jitmlp.kernels import _jit
print("CACHE", _jit.CACHE, _jit.CACHE_DIR)
{body}
"""


@slow
@needs_unprivileged
def test_read_only_install_without_home_imports_and_trains():
    """Slow (~30 s): compiles the float32 training kernels cold, in a cache
    folder of its own -- the one cold compile of the suite -- and checks
    that prediction then compiles nothing (issue 10 item 4)."""
    preexec, who = _unprivileged()
    top = tempfile.mkdtemp(prefix="jitmlp-ro-")
    try:
        os.chmod(top, 0o755)
        site = os.path.join(top, "site")
        _copy_package(site)
        home = os.path.join(top, "home")
        tmp = os.path.join(top, "tmp")
        os.mkdir(home, 0o555)
        os.mkdir(tmp)
        os.chmod(tmp, 0o1777)
        _make_read_only(site)
        env = child_env(site, HOME=home, TMPDIR=tmp, XDG_CACHE_HOME=None,
                        NUMBA_CACHE_DIR=None)
        body = """
import numpy as np
X = np.random.default_rng(0).standard_normal((64, 4)).astype(np.float32)
y = X.sum(axis=1)
m = jm.MLP([4, 8, 1], dtype="float32", seed=0)
jm.Trainer(m, jm.Adam(lr=1e-2), batch_size=16, epochs=2).fit(X, y)
from numba.core import event
with event.install_recorder("numba:compile") as rec:   # issue 10 item 4
    p = m.predict(X[:5])
    m.loss(X, y)
print("PREDICT COMPILED", [str(e.data["dispatcher"]) for _, e in rec.buffer])
assert p.shape == (5,) and np.isfinite(p).all()
print("CACHED", sorted(os.listdir(_jit.CACHE_PATH))[:3])
print("MODE", oct(os.stat(_jit.CACHE_DIR).st_mode & 0o777))
"""
        r = run_child(READ_ONLY_CHILD.format(pkg_root=site, body=body,
                                             no_tmp=False),
                      env=env, preexec_fn=preexec, cwd=tmp, timeout=600)
        out = r.stdout
        fallback = os.path.join(tmp, "jitmlp-numba-cache-")
        assert f"CACHE True {fallback}" in out, (who, out)
        assert "NUMBA_CACHE_DIR" in out and fallback in out, out
        assert ".nbi" in out.split("CACHED", 1)[1], out
        assert "MODE 0o700" in out, out
        # prediction after a cold fit: the training kernels serve it
        assert "PREDICT COMPILED []" in out, out
    finally:
        _make_writable(top)
        shutil.rmtree(top, ignore_errors=True)


@needs_unprivileged
def test_nothing_writable_runs_uncached():
    preexec, who = _unprivileged()
    top = tempfile.mkdtemp(prefix="jitmlp-ro-")
    try:
        os.chmod(top, 0o755)
        site = os.path.join(top, "site")
        _copy_package(site)
        home = os.path.join(top, "home")
        os.mkdir(home, 0o555)  # also the temporary folder: not writable
        _make_read_only(site)
        env = child_env(site, HOME=home, TMPDIR=home, XDG_CACHE_HOME=None,
                        NUMBA_CACHE_DIR=None)
        body = """
import numpy as np
from jitmlp.kernels import loss_and_delta
h = np.ones((2, 1)); y = np.zeros((2, 1)); d = np.empty((2, 1))
print("LOSS", loss_and_delta(h, y, 0, d, 1.0, True))
"""
        out = run_child(READ_ONLY_CHILD.format(pkg_root=site, body=body,
                                               no_tmp=True),
                        env=env, preexec_fn=preexec, cwd=home).stdout
        assert "CACHE False None" in out, (who, out)
        assert "not cached" in out and "NUMBA_CACHE_DIR" in out, out
        assert "LOSS 1.0" in out, out
    finally:
        _make_writable(top)
        shutil.rmtree(top, ignore_errors=True)


# ------------------------------------- 15: stale caches in NUMBA_CACHE_DIR

STALE_CHILD = """
import numpy as np
import jitmlp
from jitmlp.kernels import loss_and_delta
h = np.array([[0.5], [-1.0]]); y = np.array([[1.0], [1.0]])
print("LOSS", repr(loss_and_delta(h, y, 1, np.empty((2, 1)), 1.0, True)))
"""


def test_stale_guard_covers_numba_cache_dir(tmp_path):
    """A constant edited in consts.py (a callee file of losses.py) must be
    in effect in the next process, with the kernels cached in
    NUMBA_CACHE_DIR (Numba itself only checks the caller's own file)."""
    import numpy as np
    site = tmp_path / "site"
    pkg = _copy_package(str(site))
    cache = tmp_path / "numba-cache"
    env = child_env(str(site), NUMBA_CACHE_DIR=str(cache))
    h = np.array([0.5, -1.0])
    logistic = float(np.log1p(np.exp(-h)).sum())
    squared = float(0.5 * ((1.0 - h) ** 2).sum())

    out = run_child(STALE_CHILD, env=env).stdout
    assert f"LOSS {logistic!r}" in out, out            # code 1 is logistic
    assert list(cache.rglob("losses.*.nbi")), out      # cached there

    consts = os.path.join(pkg, "kernels", "consts.py")
    with open(consts) as f:
        src = f.read()
    assert "LOSS_LOGISTIC = 1\n" in src and "LOSS_SQUARED = 0\n" in src
    with open(consts, "w") as f:   # swap the codes: 1 now means squared
        f.write(src.replace("LOSS_LOGISTIC = 1\n", "LOSS_LOGISTIC = 0\n")
                .replace("LOSS_SQUARED = 0\n", "LOSS_SQUARED = 1\n"))
    out = run_child(STALE_CHILD, env=env).stdout
    assert f"LOSS {squared!r}" in out, out


def test_set_num_threads_caps_blas_at_the_cores(tmp_path):
    """n above the core count must not oversubscribe BLAS (an attack found
    8 BLAS threads on 2 cores 16x slower), and a huge n is no ctypes error."""
    code = (
        "import numba, jitmlp as jm\n"
        "from threadpoolctl import threadpool_info\n"
        "jm.set_num_threads(10**20)\n"
        "jm.set_num_threads(1000)\n"
        "import numpy as np\n"
        "m = jm.MLP([4, 8, 1]); m.predict(np.ones((2, 4)))\n"
        "cap = numba.config.NUMBA_NUM_THREADS\n"
        "blas = [i['num_threads'] for i in threadpool_info()\n"
        "        if i['internal_api'] == 'openblas']\n"
        "assert blas and max(blas) <= cap, (blas, cap)\n"
        "assert jm.get_num_threads() <= cap\n"
        "print('OK')\n")
    pytest.importorskip("threadpoolctl")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True,
                       text=True, timeout=120, env=child_env())
    assert r.returncode == 0 and "OK" in r.stdout, r.stderr


def test_first_compile_prints_one_line(capsys):
    """Issue 10: a first run that compiles says so (once), a cached one not."""
    from jitmlp import _compile

    class Index:
        def __init__(self, keys):
            self.keys = keys

        def _load_index(self):
            return {k: None for k in self.keys}

    class FakeDispatcher:
        signatures = []

        def __init__(self, keys):
            self._cache = type("C", (), {"_cache_file": Index(keys)})()

    empty = FakeDispatcher([])
    assert _compile.notice(empty, "training", "float32") is True
    # once per process
    assert _compile.notice(empty, "training", "float32") is False
    err = capsys.readouterr().err
    assert err.count("compiling the training kernels for float32") == 1
    assert "once: later runs load them from" in err
    net32 = ("(Net(readonly array(int64, 2d, C), readonly array(int64, 2d, "
             "C), array(float32, 1d, C), array(float32, 1d, C), int64, "
             "float64, float64), Array(float64, 1, 'C'))")
    cached = FakeDispatcher([((net32,), "magic")])
    assert _compile.notice(cached, "training", "float32") is False
    assert capsys.readouterr().err == ""
    # a float32 kernel with float64 arguments is no float64 kernel (found
    # by a new user: the float64 training compile went unannounced)
    _compile.notice(cached, "training", "float64")
    assert "for float64" in capsys.readouterr().err
    broken = FakeDispatcher([])
    broken._cache = None                               # no cache at all
    _compile.notice(broken, "prediction", "float64")
    assert "not cached" in capsys.readouterr().err


# ------------------------------------ issue 10 item 4: the compile helper
HELPER_KERNELS = {"loss_and_delta", "backward_batch", "update_segments",
                  "undo_update", "adam_rule", "sgd_rule"}


@slow
@pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT") == "1",
                    reason="nothing compiles with NUMBA_DISABLE_JIT=1")
@pytest.mark.parametrize("kind", ["dense", "sparse"])
def test_the_compile_helper_compiles_what_the_epoch_loop_calls(tmp_path,
                                                               kind):
    """Slow (~20 s each): ``python -m jitmlp._precompile`` run to its end in
    an empty cache, then a first fit in another process: the fit compiles
    its forward pass and epoch loop and loads every kernel the helper
    compiled (the signatures are the epoch loop's, to the last flag)."""
    env = child_env(NUMBA_CACHE_DIR=str(tmp_path / "cache"),
                    JITMLP_COMPILE_HELPER="0")
    r = subprocess.run([sys.executable, "-m", "jitmlp._precompile",
                        "float32", kind, SRC_DIR], env=env, timeout=600,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    out = run_child(f"""
        import numpy as np, scipy.sparse as sp, jitmlp as jm
        from numba.core import event
        X = np.random.default_rng(0).standard_normal((64, 4))
        X[X < 0.3] = 0.0
        y = X.sum(axis=1)
        if {kind!r} == "sparse":
            X = sp.csr_matrix(X)
        m = jm.MLP([4, 8, 1], dtype="float32", seed=0)
        with event.install_recorder("numba:compile") as rec:
            jm.Trainer(m, jm.Adam(lr=1e-2), batch_size=16).fit(X, y,
                                                                epochs=1)
        print("COMPILED", sorted({{e.data["dispatcher"].py_func.__name__
                                  for _, e in rec.buffer}}))
    """, env=env, timeout=600).stdout
    compiled = eval(out.split("COMPILED", 1)[1].strip())
    assert "train_epoch" in compiled, out       # the cache was empty
    assert not HELPER_KERNELS & set(compiled), out


def test_compile_helper_start_and_its_guards(monkeypatch):
    from jitmlp import _precompile
    calls = []

    class FakePopen:
        def __init__(self, args, **kw):
            calls.append((args, kw))

        def poll(self):
            return None

    monkeypatch.setattr(_precompile.subprocess, "Popen", FakePopen)
    monkeypatch.setattr(_precompile, "_cores", lambda: 2)
    monkeypatch.setattr(_precompile, "_HELPERS", [])
    monkeypatch.delenv("JITMLP_COMPILE_HELPER", raising=False)
    monkeypatch.delenv("NUMBA_DISABLE_JIT", raising=False)
    from jitmlp.kernels import _jit
    if not _jit.CACHE:
        assert _precompile.start("float32") is None
        return
    from jitmlp import _cache
    for v in _precompile._MPI_SIZES:
        monkeypatch.delenv(v, raising=False)
    assert _precompile.start("float32", sparse=True) is not None
    args, kw = calls[-1]
    assert args[1:] == ["-c", _precompile._ENTRY, "float32", "sparse",
                        SRC_DIR, _cache.IMPORTED_DIGEST]
    assert kw["env"]["JITMLP_COMPILE_HELPER"] == "0"     # no grandchild
    assert kw["stdout"] is subprocess.DEVNULL
    n = len(calls)
    for off in ("0", "off", "False", " no "):
        monkeypatch.setenv("JITMLP_COMPILE_HELPER", off)
        assert _precompile.start("float32") is None
    monkeypatch.delenv("JITMLP_COMPILE_HELPER")
    monkeypatch.setattr(_precompile, "_cores", lambda: 1)
    assert _precompile.start("float32") is None
    monkeypatch.setattr(_precompile, "_cores", lambda: 2)
    # launched by mpiexec with several ranks: the ranks have the cores
    monkeypatch.setenv("PMI_SIZE", "2")
    assert _precompile.start("float32") is None
    monkeypatch.setenv("PMI_SIZE", "1")              # one rank: allowed
    assert _precompile.start("float32") is not None
    n += 1
    monkeypatch.delenv("PMI_SIZE")
    # sys.executable that is not Python (frozen app, uWSGI): never run it
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    assert _precompile.start("float32") is None
    monkeypatch.delattr(sys, "frozen")
    uwsgi = os.path.join(os.path.dirname(sys.executable), "uwsgi")
    monkeypatch.setattr(sys, "executable", uwsgi)
    monkeypatch.setattr(_precompile.os.path, "isfile", lambda p: True)
    assert _precompile.start("float32") is None
    monkeypatch.undo()
    monkeypatch.setattr(_precompile.subprocess, "Popen", FakePopen)
    monkeypatch.setattr(_precompile, "_cores", lambda: 2)
    monkeypatch.setattr(_precompile, "_HELPERS", [])
    monkeypatch.delenv("JITMLP_COMPILE_HELPER", raising=False)
    monkeypatch.delenv("NUMBA_DISABLE_JIT", raising=False)
    for v in _precompile._MPI_SIZES:
        monkeypatch.delenv(v, raising=False)

    def refuse(*a, **k):
        raise OSError("no processes here")
    monkeypatch.setattr(_precompile.subprocess, "Popen", refuse)
    assert _precompile.start("float32") is None         # ignored
    assert len(calls) == n
    # a helper that finds another jitmlp than its parent's does nothing
    assert _precompile.main(["float32", "dense", "/nonexistent"]) == 2


def test_trainer_starts_the_helper_only_before_a_compile(monkeypatch):
    import numpy as np
    from jitmlp import _precompile
    import jitmlp.trainer as T
    started, stopped = [], []

    def start(dtype, sparse=False):
        started.append((str(dtype), sparse))
        return "helper"
    monkeypatch.setattr(_precompile, "start", start)
    monkeypatch.setattr(_precompile, "stop", stopped.append)
    X = np.random.default_rng(0).standard_normal((32, 3))
    y = X.sum(axis=1)
    tr = jitmlp.Trainer(jitmlp.MLP([3, 4, 1], seed=0), jitmlp.SGD(lr=0.1),
                        batch_size=8)
    monkeypatch.setattr(T._compile, "notice", lambda *a: False)
    tr.fit(X, y, epochs=1)
    assert started == []
    monkeypatch.setattr(T._compile, "notice", lambda *a: True)
    tr.fit(X, y, epochs=1)
    assert started == [("float64", False)]
    assert stopped[-1] == "helper"            # ended with the epoch


def test_compile_helper_does_nothing_for_changed_sources(tmp_path):
    """Found by the attack session: the parent imported the kernel sources,
    they changed (pip upgrade, an edit), then its first fit started the
    helper, whose import refreshed the cache for the new sources while the
    parent saved old machine code under the new stamp; the next process
    trained with old code.  The helper now compares the sources with the
    parent's digest before importing jitmlp and exits (3), touching
    nothing."""
    from jitmlp import _precompile
    cache = tmp_path / "cache"
    r = subprocess.run([sys.executable, "-c", _precompile._ENTRY, "float32",
                        "dense", SRC_DIR, "0" * 64],
                       env=child_env(NUMBA_CACHE_DIR=str(cache)),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 3, r.stderr
    assert not cache.exists() or not any(cache.rglob("*"))


def test_compile_helper_does_not_import_from_the_current_folder(tmp_path):
    """Found by the attack session: ``python -m`` put the current folder
    first on the helper's path, so a numba.py there ran."""
    from jitmlp import _cache, _precompile
    (tmp_path / "numba.py").write_text(
        "open(__file__ + '.RAN', 'w').close()\nraise SystemExit(7)\n")
    (tmp_path / "numpy.py").write_text(
        "open(__file__ + '.RAN', 'w').close()\nraise SystemExit(7)\n")
    # with NUMBA_DISABLE_JIT the real kernels have nothing to compile: the
    # helper fails fast after importing numpy and numba (whichever it finds)
    r = subprocess.run([sys.executable, "-c", _precompile._ENTRY, "float32",
                        "dense", SRC_DIR, _cache.source_digest()],
                       env=child_env(NUMBA_DISABLE_JIT="1",
                                     NUMBA_CACHE_DIR=str(tmp_path / "c")),
                       cwd=tmp_path, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode != 7, r.stderr
    assert not list(tmp_path.glob("*.RAN")), r.stderr


def test_compile_helper_stop_ends_a_running_helper():
    from jitmlp import _precompile
    p = subprocess.Popen([sys.executable, "-c",
                          "import time; time.sleep(60)"])
    _precompile._HELPERS.append(p)
    _precompile.stop(p)
    assert p.poll() is not None and p not in _precompile._HELPERS
    _precompile.stop(None)
