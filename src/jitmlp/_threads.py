"""Thread control: Numba's threading layer and threads, and the BLAS under ``np.dot``.

Threading layer
---------------
Numba runs ``parallel=True`` kernels (here only the optimizer update of
segments of >= 2^21 parameters) on one of three layers: ``tbb``, ``omp``
(GNU OpenMP on Linux) or ``workqueue``.  Numba's default picks ``omp`` when
TBB is absent, and GNU OpenMP is not fork-safe: a fork-started child
(``multiprocessing``'s default on Linux, joblib, a Jupyter kernel's helpers)
that trains after its parent ran a parallel kernel is killed ("fork() called
from a process already using GNU OpenMP"), and a fork ``Pool`` never returns.

At import jitmlp therefore asks Numba for its ``"forksafe"`` layer: ``tbb``
when the optional ``tbb`` package is installed and loadable (fork- and
thread-safe), else ``workqueue`` (on macOS and Windows Numba may also pick its
fork-safe OpenMP there).  Measured on 2 cores (Adam, 2.5M float32 parameters,
one update, best of 50, the second core busy with another process): omp
1.5-1.9 ms, workqueue 1.5-1.7 ms, single thread 1.5-1.7 ms; the update is
memory-bound, and the two layers are within noise of each other.
``workqueue`` is not thread-safe for *concurrent* parallel launches, which
jitmlp never makes: no kernel releases the GIL.

The choice is only a default and is made without launching any thread:
- ``NUMBA_THREADING_LAYER`` (environment or Numba's config file), or
  ``numba.config.THREADING_LAYER`` set in code before the first parallel
  launch, wins;
- if the program already launched Numba's threads before importing jitmlp,
  its layer is kept (it cannot change within a process).

BLAS threads
------------
Numba's ``np.dot`` calls SciPy's BLAS (``scipy.linalg.cython_blas``), which
for the PyPI wheels is the OpenBLAS bundled with SciPy (``scipy.libs``).
:func:`set_num_threads` loads it first (otherwise it loads at the first
kernel call, after the limit was set, and keeps its default thread count),
then limits it with threadpoolctl when installed, else with
``openblas_set_num_threads`` through ctypes.
"""
import ctypes
import glob
import math
import os
import threading

import numba
import numpy as np

from ._interrupt import Atomic

#: the layer that jitmlp asks Numba for when the user did not choose one
DEFAULT_LAYER = "forksafe"


def choose_threading_layer():
    """Make Numba's threading layer fork-safe unless the user chose one.

    Returns the layer setting in force (a name, ``"forksafe"``, or the name of
    the layer already running)."""
    try:
        from numba.np.ufunc import parallel
        if getattr(parallel, "_is_initialized", False):
            return parallel.threading_layer()   # already running: keep it
    except Exception:   # private API moved: fall through to the config
        pass
    current = str(numba.config.THREADING_LAYER).lower()
    if current != "default":
        return current                         # the user's choice
    numba.config.THREADING_LAYER = DEFAULT_LAYER
    return DEFAULT_LAYER


def _load_scipy_blas():
    """Load the BLAS that the kernels call, so that a limit reaches it."""
    try:
        import scipy.linalg.cython_blas  # noqa: F401
    except ImportError:
        pass


def _openblas_libs():
    libs = []
    try:
        import scipy
        root = os.path.dirname(os.path.dirname(scipy.__file__))
        pats = [os.path.join(root, "scipy.libs", "libscipy_openblas*.so*"),
                os.path.join(root, "scipy.libs", "libopenblas*.so*")]
        nroot = os.path.dirname(os.path.dirname(np.__file__))
        pats += [os.path.join(nroot, "numpy.libs", "libscipy_openblas*.so*"),
                 os.path.join(nroot, "numpy.libs", "libopenblas*.so*")]
        for pat in pats:
            for path in glob.glob(pat):
                try:
                    libs.append(ctypes.CDLL(path))
                except OSError:
                    pass
    except ImportError:
        pass
    return libs


def _limit_blas(n):
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        threadpool_limits = None
    if threadpool_limits is not None:
        threadpool_limits(limits=n, user_api="blas")
        return
    for lib in _openblas_libs():
        for name in ("scipy_openblas_set_num_threads64_",
                     "scipy_openblas_set_num_threads",
                     "openblas_set_num_threads64_",
                     "openblas_set_num_threads"):
            fn = getattr(lib, name, None)
            if fn is not None:
                fn(ctypes.c_int(n))
                break


def set_num_threads(n):
    """Use ``n`` threads in Numba's parallel loops and in BLAS products.

    ``n``: a positive integer (Python or NumPy; not a bool).  Both counts
    are capped at ``numba.config.NUMBA_NUM_THREADS`` (by default the
    machine's cores): more BLAS threads than cores wait on each other
    (measured on 2 cores, a 512-wide epoch: 0.71 s with 2 threads, 11.3 s
    with 8, 46 s with 1000).  Takes effect at once, also when called before
    the first fit.  Numba's count is per Python thread; BLAS's is one per
    process, and OpenBLAS (0.3.30, measured) ignores a change made from a
    thread other than the one that first set it: call this in the main
    thread.

    Parameters
    ----------
    n : int >= 1
        Threads for Numba's parallel loops and for BLAS.

    Returns
    -------
    int
        The previous Numba thread count.

    Examples
    --------
    >>> import jitmlp as jm
    >>> previous = jm.set_num_threads(1)   # one core, e.g. per MPI rank
    >>> jm.get_num_threads()
    1
    >>> _ = jm.set_num_threads(previous)

    Raises
    ------
    TypeError, ValueError
        ``n`` is not a positive integer (nothing is changed then).
    """
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"n must be a positive integer; got {n!r}")
    n = int(n)                        # numpy integers too (ctypes needs int)
    if n < 1:
        raise ValueError(f"n must be a positive integer; got {n!r}")
    n = min(n, numba.config.NUMBA_NUM_THREADS)
    prev = numba.get_num_threads()
    numba.set_num_threads(n)
    _load_scipy_blas()
    _limit_blas(n)
    return prev


def get_num_threads():
    """Numba's current thread count (that of the parallel loops; BLAS follows
    :func:`set_num_threads`).

    Returns
    -------
    int
        Between 1 and ``numba.config.NUMBA_NUM_THREADS``.

    Examples
    --------
    >>> import numba, jitmlp as jm
    >>> 1 <= jm.get_num_threads() <= numba.config.NUMBA_NUM_THREADS
    True
    """
    return numba.get_num_threads()


# ---------------------------------------------------------------- governor
class _BlasThreads:
    """Get and set the BLAS thread count quickly (one ctypes call each):
    threadpoolctl's controllers when installed, else OpenBLAS's own
    functions found next to SciPy and NumPy.  Built once, after SciPy's BLAS
    is loaded."""

    _instance = None

    def __init__(self):
        _load_scipy_blas()
        self._libs = []
        try:
            from threadpoolctl import ThreadpoolController
            self._libs = [(c.get_num_threads, c.set_num_threads)
                          for c in ThreadpoolController().lib_controllers
                          if c.user_api == "blas"]
        except Exception:     # not installed, or an unusual BLAS
            self._libs = []
        if not self._libs:
            for lib in _openblas_libs():
                for pre in ("scipy_openblas_", "openblas_"):
                    for suf in ("64_", ""):
                        get = getattr(lib, f"{pre}get_num_threads{suf}", None)
                        put = getattr(lib, f"{pre}set_num_threads{suf}", None)
                        if get is not None and put is not None:
                            self._libs.append(
                                (get, lambda n, f=put: f(ctypes.c_int(n))))
                            break
                    else:
                        continue
                    break

    @classmethod
    def get(cls):
        if cls._instance is None:
            cls._instance = cls()
        return cls._instance

    def counts(self):
        return [int(get()) for get, _ in self._libs]

    def set(self, counts):
        """One count for all libraries, or a list as from :meth:`counts`."""
        if isinstance(counts, int):
            counts = [counts] * len(self._libs)
        for (_, put), n in zip(self._libs, counts):
            put(int(n))


def batch_sizes(n, batch_size, steps):
    """The distinct numbers of rows of ``steps`` batches over ``n`` rows
    (every batch full but the last): what :func:`products_agree` checks."""
    return sorted({min(batch_size, n), n - (steps - 1) * batch_size} - {0})


_AGREE = {}    # (dtype, widths, batch sizes, counts) -> bool
# Governed runs in progress in this process, and the BLAS counts from before
# the first of them.  BLAS's counts are process-wide (Numba's are per
# thread): while two runs are active, e.g. fits in two Python threads, both
# hold their budget and the BLAS counts stay the user's; the last to stop
# puts them back.
_ACTIVE = [0]
_BLAS_SAVED = [None]
_ACTIVE_LOCK = threading.Lock()


def products_agree(widths, batch_sizes, dtype, counts):
    """True if every matrix product of a network with layer ``widths``, on
    batches of ``batch_sizes`` rows, gives the same bits on each thread count
    in ``counts`` (random operands; cached per process).

    float32 products are chunked so that this holds (kernels/dense.py); for
    float64 OpenBLAS's SkylakeX kernels give 1 and 2 threads different last
    bits for many shapes (measured: 64x128 @ 128x1000), so that the
    governor only moves the thread count where this check passed.
    """
    key = (str(dtype), tuple(widths), tuple(batch_sizes), tuple(counts))
    if key in _AGREE:
        return _AGREE[key]
    from .kernels.dense import mm_nn, mm_nt, mm_tn
    r = np.random.default_rng(0)
    dt = np.dtype(dtype)
    blas = _BlasThreads.get()
    saved = (numba.get_num_threads(), blas.counts())
    agree = True
    try:
        for B in batch_sizes:
            for n, m in zip(widths[:-1], widths[1:]):
                a = r.standard_normal((B, n)).astype(dt)
                w = r.standard_normal((n, m)).astype(dt)
                d = r.standard_normal((B, m)).astype(dt)
                first = None
                for c in counts:
                    numba.set_num_threads(c)
                    blas.set(c)
                    o = (np.empty((B, m), dt), np.empty((n, m), dt),
                         np.empty((B, n), dt))
                    mm_nn(a, w, o[0])
                    mm_tn(a, d, o[1])
                    mm_nt(d, w, o[2])
                    if first is None:
                        first = o
                    elif not all(np.array_equal(x, y)
                                 for x, y in zip(first, o)):
                        agree = False
                        break
                if not agree:
                    break
            if not agree:
                break
    finally:
        numba.set_num_threads(saved[0])
        blas.set(saved[1])
    _AGREE[key] = agree
    return agree


class ThreadGovernor:
    """Chooses, chunk by chunk of training steps, how many of the allowed
    threads the kernels use, from the time each chunk takes.

    Why: on a machine whose cores are busy with other programs, threads that
    wait for each other inside every matrix product lose whole scheduler time
    slices; measured on 2 cores with one busy process beside it, MNIST
    (784-256-256-10, B = 128) trained at 26 % of its single-thread speed on 2
    threads and at 92 % on 1.  How: training runs in chunks of ~0.1 s anyway
    (Ctrl-C, progress); the governor keeps the thread count of the last
    chunks and now and then runs a short probe chunk (a quarter of the
    steps) one rung away on the ladder ``budget, budget/2, ..., 1``; a probe
    that is ``MARGIN`` faster per step wins.  On the budget, a lost probe
    defers the next one by ``MAX_WAIT`` chunks; below it, probes that lose
    come exponentially rarer (every 2, 4, ..., ``MAX_WAIT`` chunks; 4x rarer
    after one that took more than twice as long); a chunk ``SLOWDOWN`` times
    slower per step than the last ones (the machine got busy) forgets the
    old timings and brings the next probe of fewer threads forward.  A
    probe of more threads is skipped (and asked again after the back-off)
    while the machine's load average says their cores are busy
    (:meth:`cores_taken`).  So
    does (to the next chunk) a chunk on
    several threads that got less than ``CONTENDED`` of their CPU time
    (process CPU seconds / (wall seconds x threads), when :meth:`record` is
    given it): measured on 2 cores, 0.95-1.00 quiet and 0.61-0.67 with one
    busy process for MNIST, deep_bn and wide on 2 threads.  Without it a
    single probe that lost to noise on a loaded machine kept two threads
    for ``MAX_WAIT`` chunks (every chunk equally slow: no slowdown to see).
    Lost probes on such a signal come rarer too (after 0, 1, 3, ...,
    ``MAX_CONTENDED_WAIT - 1`` chunks), for networks whose second thread has
    little to do (a share near 0.5 on a quiet machine, and the same speed
    on one thread: their probes cost nothing).

    The choice changes speed only, never results: the governor moves only
    between thread counts on which every product of the network gives the
    same bits (:func:`products_agree`, checked once per network shape;
    float32 always passes, see :mod:`jitmlp.kernels.dense`), and stays on
    the budget otherwise.  The budget is Numba's thread count when the
    governor starts (:func:`set_num_threads`); with a budget of 1 nothing
    happens; a lower BLAS limit (threadpoolctl's ``threadpool_limits``)
    lowers the budget.  The thread counts are restored by :meth:`stop`.
    """

    PROBE_FRACTION = 0.25
    MARGIN = 0.05
    SLOWDOWN = 1.3
    MAX_WAIT = 64
    HISTORY = 3
    CONTENDED = 0.8
    MAX_CONTENDED_WAIT = 16

    def __init__(self, enabled=True):
        self.enabled = enabled
        self._key = None
        self._saved = None
        self.counts_used = {}     # threads -> chunks run (for tests, bench)

    def _reset(self, budget):
        ladder = [budget]
        while ladder[-1] > 1:
            ladder.append((ladder[-1] + 1) // 2 if ladder[-1] > 2 else 1)
        self.ladder = ladder
        self.rung = 0              # index into ladder of the current count
        self.recent = []           # per-step seconds of the current count
        self.wait = 2              # chunks before the next probe
        self.backoff = 2
        self.direction = 1         # +1: fewer threads next probe, -1: more
        self.probe = None          # rung being probed by the running chunk
        self.cwait = 1             # wait after a low CPU share (see record)
        # the first chunk after a reset is not timed: it pays one-time costs
        # (a fresh workspace's page faults, kernels loaded), and a cold
        # first chunk beside a slow second one let the first probe win
        # (traced on mnist: 4.2 ms a step cold against 1.4 ms)
        self.cold = True

    def start(self, key, widths=None, batch_sizes=(), dtype="float64"):
        """Begin a run of chunks.  ``key``: what is trained (a new key forgets
        the timings); ``widths``, ``batch_sizes``, ``dtype``: the products
        to check with :func:`products_agree` (None: no check)."""
        budget = int(numba.get_num_threads())
        blas = _BlasThreads.get()
        # counted in _ACTIVE exactly when _saved says so (stop undoes it):
        # a Ctrl-C in between had left a run counted for ever
        with Atomic(), _ACTIVE_LOCK:
            if _ACTIVE[0] == 0:
                _BLAS_SAVED[0] = blas.counts()
            _ACTIVE[0] += 1
            counts = _BLAS_SAVED[0]
            if _ACTIVE[0] > 1:   # another run may have moved them: undo
                blas.set(counts)
            self._saved = (budget, counts)
        # a BLAS limit set since (threadpoolctl's threadpool_limits) counts
        budget = max(1, min([budget] + counts))
        if key != self._key or budget != getattr(self, "budget", None):
            self._key = None   # until the check below has completed
            self._reset(budget)
            if not self.enabled or (widths is not None and not products_agree(
                    widths, batch_sizes, dtype, self.ladder)):
                self.ladder = [budget]
            self._key = key
            self.budget = budget

    @staticmethod
    def cores_taken(extra):
        """True when the machine has not ``extra`` cores to spare: its
        1-minute load average (runnable threads, this process's included)
        plus ``extra`` exceeds the cores by more than half a core.  False
        where the load average is unknown (then probes decide alone)."""
        try:
            load = os.getloadavg()[0]
        except (AttributeError, OSError):
            return False
        return load + extra > (os.cpu_count() or 1) + 0.5

    def next_chunk(self, steps):
        """The thread count for the next chunk (set in Numba and BLAS) and
        its number of steps (fewer for a probe)."""
        self.probe = None
        if len(self.ladder) > 1 and _ACTIVE[0] > 1:
            # another governed run in this process: the budget, no probes,
            # and BLAS at the user's counts
            n = self.ladder[0]
            blas = self._saved[1]
        else:
            if len(self.ladder) > 1 and self.wait <= 0:
                r = self.rung + self.direction
                if not 0 <= r < len(self.ladder):
                    self.direction = -self.direction
                    r = self.rung + self.direction
                if r < self.rung and self.cores_taken(
                        self.ladder[r] - self.ladder[self.rung]):
                    # more threads, but the cores they need are busy: a
                    # probe would only pay for it (a new user's loaded
                    # machine: 124 probe steps of a small net took 1.9 s
                    # on 2 threads, 0.2 ms a step on one); ask again later
                    self.wait = self.backoff
                else:
                    self.probe = r
                    steps = max(1, int(steps * self.PROBE_FRACTION))
            n = self.ladder[self.rung if self.probe is None else self.probe]
            blas = n
        if len(self.ladder) > 1:
            numba.set_num_threads(n)
            _BlasThreads.get().set(blas)
        self.counts_used[n] = self.counts_used.get(n, 0) + 1
        return n, steps

    def record(self, seconds, steps, cpu_seconds=None):
        """The chunk just run took ``seconds`` (wall) for ``steps`` steps;
        ``cpu_seconds``: the process's CPU time over the same chunk
        (``time.process_time()`` difference), or None."""
        if len(self.ladder) <= 1 or steps <= 0 or _ACTIVE[0] > 1:
            return
        per = seconds / steps
        if self.cold and self.probe is None:
            self.cold = False
            return
        if self.probe is None:
            if self.recent and per > self.SLOWDOWN * min(self.recent):
                # the machine changed: the old timings no longer say what
                # the current count costs; if it got busier, fewer threads
                # may do better: try them soon (more threads would not: on
                # one thread of a loaded machine a two-thread probe of a
                # large step cost 10x, and noise brought one every few calls)
                self.recent = [per]
                if self.rung < len(self.ladder) - 1:
                    self.wait = min(self.wait, 1)
                    self.direction = 1
            else:
                self.recent = (self.recent + [per])[-self.HISTORY:]
                self.wait -= 1
            n = self.ladder[self.rung]
            if n > 1 and cpu_seconds is not None and seconds > 0 and \
                    cpu_seconds < self.CONTENDED * seconds * n:
                # the threads waited for cores: another program is busy
                # now; try fewer threads with the next chunk (after cwait - 1
                # more when such probes lost before)
                self.wait = min(self.wait, self.cwait - 1)
                self.direction = 1
            return
        # the current count's best of its last HISTORY chunks: a slow one
        # (a cold first chunk, a moment of noise) must not let a probe win
        # (the upper median of two did: measured, a cold 4.3 ms/step first
        # chunk made a 2.2 ms/step one-thread probe beat 1.4 ms/step)
        cur = min(self.recent) if self.recent else math.inf
        if per < (1.0 - self.MARGIN) * cur:
            self.rung = self.probe             # the probe wins: switch
            self.recent = [per]
            self.backoff = 4
            self.wait = 4
            self.cwait = 1
        else:
            self.direction = -self.direction   # next time the other side
            if self.rung == 0:
                # on the budget, a lost probe says the machine has the
                # cores: probe again only after a slowdown (see above) or
                # MAX_WAIT chunks (each early probe cost a short fit ~10 %,
                # measured on MNIST: median 85-90k samples/s governed
                # against 96k on a fixed 2 threads)
                self.backoff = self.MAX_WAIT
                self.cwait = min(2 * self.cwait, self.MAX_CONTENDED_WAIT)
            else:
                # a probe that lost by far is not worth repeating soon
                grow = 4 if per > 2.0 * cur else 2
                self.backoff = min(grow * self.backoff, self.MAX_WAIT)
            self.wait = self.backoff
        self.probe = None

    def stop(self):
        """Put the thread counts of :meth:`start` back."""
        with Atomic():
            if self._saved is None:
                return
            budget, blas = self._saved
            self._saved = None
            with _ACTIVE_LOCK:
                _ACTIVE[0] -= 1
            if len(getattr(self, "ladder", ())) > 1:
                numba.set_num_threads(budget)
                _BlasThreads.get().set(blas)
