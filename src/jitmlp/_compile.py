"""One line on the first compile: the kernels of a dtype compile once per
machine (~20-30 s each set), and a first run that prints nothing for that
long looks hung.

Before an entry kernel (training, prediction, gradient, update) is first
called in a process for a dtype, we look in its Numba cache index for a
compiled version of that dtype; when there is none, one line goes to stderr
saying what compiles and that it happens once.  Reading the index is cheap
(a small pickle) and done once per kernel and dtype per process.
"""
import sys

_checked = set()


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
        for name in ("float32", "float64"):
            if f"array({name}" in sig:
                found.add(name)
    return found


def notice(dispatcher, what, dtype):
    """Print one line if ``dispatcher`` has no compiled version for ``dtype``
    on disk and has not run for it in this process."""
    key = (dispatcher, str(dtype))
    if key in _checked:
        return
    _checked.add(key)
    if any(str(dtype) in str(sig) for sig in dispatcher.signatures):
        return
    cached = _cached_dtypes(dispatcher)
    if cached is not None and str(dtype) in cached:
        return
    where = ("once per machine" if cached is not None else
             "in every process: the kernels are not cached")
    print(f"jitmlp: compiling the {what} kernels for {dtype}, {where} "
          f"(~20-30 s)...", file=sys.stderr, flush=True)
