"""A second process that compiles part of the training kernels while the
first fit compiles the rest (empty cache, two or more cores).

Numba compiles one function at a time in a process (a global compiler
lock), and a first fit's compile is ~16 s on one core while the other core
waits.  When :func:`jitmlp._compile.notice` finds no cached training kernel
for a dtype, :func:`start` launches a Python process (``_ENTRY``, then
:func:`main` with DTYPE KIND PACKAGE_DIR), which compiles the leaf kernels
the epoch loop calls after its forward pass (``loss_and_delta``, ``backward_batch``,
``update_segments`` with the optimizer rules, ``undo_update``) with exactly
the argument types the epoch loop gives them, into the same disk cache.
The fit compiles ``forward_batch`` first; when it reaches the next callee
Numba looks in the disk cache before compiling (``Dispatcher.compile``),
finds what the helper wrote and loads it.  A callee the helper has not
finished is compiled by the fit as before: the helper can make the first
fit faster, never different (the cached machine code is what either
process would compile) and never slower on an idle second core.

The fit ends the helper when its first epoch (or step) ends (:func:`stop`).
Not started when: caching is off, ``NUMBA_DISABLE_JIT`` is set, fewer than
two cores are ours (``os.sched_getaffinity``), ``JITMLP_COMPILE_HELPER`` is
0/false/no/off, the process was launched by mpiexec/mpirun/srun (or trains
with ``comm``), or ``sys.executable`` is not a Python interpreter (frozen
applications, uWSGI).  Any failure to start is ignored (the fit compiles
everything itself); the helper's output goes nowhere.  It imports the
parent's package folder, not the current folder, checks it imported that
same package, and does nothing when the kernel sources changed since the
parent imported them.
"""
import os
import subprocess
import sys

_HELPERS = []
_OFF = ("0", "false", "no", "off")
# the number of processes launched together, as mpiexec/mpirun (MPICH's
# Hydra, Open MPI) and Slurm's srun tell each of them
_MPI_SIZES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MPI_LOCALNRANKS",
              "SLURM_STEP_NUM_TASKS")

# The helper's entry: the current folder is not on its path (``python -m``
# would put it first: a numba.py there would run), the parent's package
# folder is; and it stops before importing jitmlp (whose import refreshes
# the kernel cache for the sources it finds) when the kernel sources are no
# longer those the parent imported (a pip upgrade or an edit since): the
# parent would then save old machine code under the new sources' stamp.
_ENTRY = """\
# jitmlp._precompile: the compile helper (this line names it in ps and top)
import sys
dtype, kind, pkg, digest = sys.argv[1:5]
sys.path[0] = pkg
import importlib.util, os
spec = importlib.util.spec_from_file_location(
    "_jitmlp_cache_probe", os.path.join(pkg, "jitmlp", "_cache.py"))
probe = importlib.util.module_from_spec(spec)
spec.loader.exec_module(probe)
if probe.source_digest() != digest:
    sys.exit(3)
from jitmlp._precompile import main
sys.exit(main([dtype, kind, pkg]))
"""


def _cores():
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _python_executable():
    """sys.executable when it is a Python interpreter we may start, else
    None (frozen applications, uWSGI or mod_wsgi hosts: sys.executable is
    the application or the server, not Python)."""
    exe = sys.executable
    if getattr(sys, "frozen", False) or not exe or not os.path.isfile(exe):
        return None
    name = os.path.basename(exe).lower()
    return exe if name.startswith(("python", "pypy")) else None


def enabled():
    """True when a helper may be started (see the module docstring)."""
    from . import _cache
    from .kernels import _jit
    if os.environ.get("JITMLP_COMPILE_HELPER", "1").strip().lower() in _OFF:
        return False
    if os.environ.get("NUMBA_DISABLE_JIT", "0").strip() not in ("", "0"):
        return False
    if any(_int(os.environ.get(v)) > 1 for v in _MPI_SIZES):
        return False      # the ranks have the cores already
    if not _jit.CACHE or _cache.IMPORTED_DIGEST is None or _cores() < 2:
        return False
    return _python_executable() is not None


def start(dtype, sparse=False):
    """Launch the helper for ``dtype`` (dense or sparse Workspace); returns
    the Popen or None."""
    from . import _cache
    for p in list(_HELPERS):       # reap finished ones
        if p.poll() is not None:
            _HELPERS.remove(p)
    if not enabled():
        return None
    pkg = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, JITMLP_COMPILE_HELPER="0")   # no helper of its own
    try:
        p = subprocess.Popen(
            [_python_executable(), "-c", _ENTRY, str(dtype),
             "sparse" if sparse else "dense", pkg, _cache.IMPORTED_DIGEST],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, env=env, close_fds=True)
    except (OSError, ValueError, subprocess.SubprocessError):
        return None
    _HELPERS.append(p)
    return p


def stop(p):
    """End helper ``p`` (None: nothing) once the fit that started it has
    run its first chunks: what it would still compile, the fit has compiled
    or loaded by then.  A cache entry it was writing is either whole or
    missing (Numba writes through a temporary file and a rename, and treats
    an index entry without its data file as absent)."""
    if p is None:
        return
    try:
        if p.poll() is None:
            p.terminate()
            p.wait(timeout=10)
    except (OSError, subprocess.SubprocessError):
        pass
    if p in _HELPERS and p.poll() is not None:
        _HELPERS.remove(p)


def jobs(dtype, sparse):
    """[(kernel, signature)]: the epoch loop's calls of the leaf kernels
    after the forward pass, with the types it passes (see epoch.py)."""
    import numpy as np
    from numba import typeof, types
    from .model import MLP
    from .optim import SGD
    from .kernels import dense, losses, update
    m = MLP([2, 2, 1], dtype=dtype, seed=0)
    net = m._net(sparse=sparse)
    ws = m._workspace(1, 1, sparse=sparse)
    opt = SGD(lr=0.1)
    opt.bind(m)
    hy = opt.hyper()
    st = opt._state_tuple(m.dtype)
    grad = np.zeros(m.n_params, m.dtype)
    i64, f64, b1 = types.int64, types.float64, types.boolean
    block = types.Array(typeof(grad).dtype, 2, "C")
    P, G = typeof(net.params), typeof(grad)
    return [
        (losses.loss_and_delta, (block, block, i64, block, f64, b1, f64)),
        (dense.backward_batch, (typeof(net), G, typeof(ws), i64)),
        (update.update_segments, (P, G, typeof(net.segments), typeof(hy),
                                  typeof(st), f64, i64, f64, i64, i64)),
        (update.undo_update, (P, G, typeof(st))),
    ]


def main(argv):
    dtype, kind, pkg = argv
    import jitmlp
    here = os.path.dirname(os.path.dirname(os.path.abspath(jitmlp.__file__)))
    if os.path.realpath(here) != os.path.realpath(pkg):
        return 2          # another jitmlp than the parent's: do nothing
    for kernel, sig in jobs(dtype, kind == "sparse"):
        kernel.compile(sig)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
