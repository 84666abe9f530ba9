"""One line on the first compile: the kernels of a dtype compile once per
installation and cache folder (~10-25 s each set), and a first run that
prints nothing for that long looks hung.

Before an entry kernel (training, prediction, gradient, update) is first
called in a process for a dtype, we look in its Numba cache index for a
compiled version of that dtype; when there is none, one line goes to stderr
saying what compiles and that it happens once.  Reading the index is cheap
(a small pickle) and done once per kernel and dtype per process.
"""
import re
import sys

_checked = set()
# the dtype of Net.params, the first float array of every entry kernel's
# signature (float64 arrays of other arguments, e.g. the learning rates, must
# not count: a float32 training kernel is no float64 one)
_NET_PARAMS = re.compile(r"Net\((?:readonly )?array\(int64, 2d, C\), "
                         r"(?:readonly )?array\(int64, 2d, C\), "
                         r"array\((float32|float64)")


def _cached_dtypes(dispatcher):
    """The dtype names found in the signatures of ``dispatcher``'s cache
    index; None when that cannot be read (no cache, another Numba)."""
    try:
        index = dispatcher._cache._cache_file._load_index()
    except Exception:   # a private API of Numba: never let it break a fit
        return None
    found = set()
    for key in index:
        sig = str(key[0]) if isinstance(key, tuple) and key else str(key)
        m = _NET_PARAMS.search(sig)
        if m:
            found.add(m.group(1))
        else:   # a kernel without Net: its first float array
            m = re.search(r"array\((float32|float64)", sig)
            if m:
                found.add(m.group(1))
    return found


# the wait a first compile announces, per kernel kind (measured on 2 cores
# with an empty cache: training 16-21 s; prediction nothing after a fit,
# whose kernels it runs on, ~4 s alone)
_SECONDS = {"training": "~10-25 s", "prediction": "a few seconds",
            "gradient": "~3 s after a fit, ~10-20 s before one"}


def notice(dispatcher, what, dtype):
    """Print one line if ``dispatcher`` has no compiled version for ``dtype``
    on disk and has not run for it in this process; True when it printed
    (a compile is coming), else False."""
    key = (dispatcher, dtype)   # (str() of a dtype costs ~2 us a call)
    if key in _checked or not hasattr(dispatcher, "signatures"):
        return False   # seen, or NUMBA_DISABLE_JIT: nothing compiles
    _checked.add(key)
    dtype = str(dtype)
    for sig in dispatcher.signatures:
        m = _NET_PARAMS.search(str(sig))
        if m and m.group(1) == str(dtype):
            return False
    cached = _cached_dtypes(dispatcher)
    if cached is not None and str(dtype) in cached:
        return False
    secs = _SECONDS.get(what, '~10-25 s')
    if cached is None:
        where = "in every process: the kernels are not cached"
    else:   # the cache sits beside the installed package unless
        # NUMBA_CACHE_DIR says otherwise: once per installation, not machine
        path = getattr(getattr(dispatcher, "_cache", None), "cache_path",
                       None)
        where = ("once: later runs load them from "
                 + (str(path) if path else "the disk cache"))
    print(f"jitmlp: compiling the {what} kernels for {dtype} ({secs}), "
          f"{where}...", file=sys.stderr, flush=True)
    return True


_ensured = set()


def ready(dispatcher, key):
    """:func:`ensure` has nothing to do (done, or NUMBA_DISABLE_JIT)."""
    return (dispatcher, key) in _ensured or not hasattr(dispatcher,
                                                        "compile")


def ensure(dispatcher, key, args):
    """Compile ``dispatcher`` for the types of ``args()`` now (or load it
    from the disk cache): seconds of Python that a Ctrl-C may cut short, kept
    out of the section where a training kernel runs and Ctrl-C is held (see
    _interrupt.py).  Once per dispatcher and ``key`` (what decides the
    argument types: typing them costs ~0.6 ms)."""
    if ready(dispatcher, key):
        return
    sig = tuple(dispatcher.typeof_pyval(a) for a in args())
    if sig not in dispatcher.overloads:
        from ._interrupt import Watch
        with Watch() as ctrl_c:
            try:
                dispatcher.compile(sig)
            except Exception:
                if ctrl_c.came:   # Numba's own error after a Ctrl-C
                    raise KeyboardInterrupt("compile interrupted") from None
                raise
    _ensured.add((dispatcher, key))
