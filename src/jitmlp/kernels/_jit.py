"""The decorator of every kernel, and where the compiled kernels are cached.

Decided once, when this module is imported (before any kernel is decorated:
Numba picks a function's cache folder at decoration time, and raises
``RuntimeError: cannot cache function ...: no locator available`` when it
finds no writable one):

1. wherever Numba itself would cache a function of this folder
   (``NUMBA_CACHE_DIR`` if set and writable, else ``__pycache__`` beside the
   kernels, else the user's cache folder ``~/.cache/numba``): nothing changes;
2. else (a read-only install run by a user without a writable home) a private
   per-user folder ``<tempdir>/jitmlp-numba-cache-<uid>``, created with mode
   0o700 and used only if it is ours and not open to others;
3. else no disk cache: the kernels compile in every process.

Cases 2 and 3 give one warning that says where the kernels go and that
``NUMBA_CACHE_DIR`` chooses the folder.  Only this module's decorator sees
the fallback folder (``numba.config.CACHE_DIR`` is set around each
decoration and restored), so the user's own Numba functions are unaffected.

Imports only the standard library and Numba, like every kernel module.
"""
import os
import stat
import tempfile
import warnings

from numba import config, njit
from numba.core.caching import FunctionCache


def _probe():   # a function of this folder: where would Numba cache it?
    pass


def _numba_cache_dir():
    """The folder Numba caches this folder's functions in, or None."""
    try:
        return FunctionCache(_probe).cache_path
    except (RuntimeError, OSError):
        return None


def _private_dir(path):
    """Create ``path`` (0o700) if needed; True if it is a folder of ours that
    no one else can write to."""
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        st = os.lstat(path)
    except OSError:
        return False
    if not stat.S_ISDIR(st.st_mode):
        return False
    if hasattr(os, "getuid"):
        if st.st_uid != os.getuid() or st.st_mode & 0o022:
            return False
    return os.access(path, os.W_OK | os.X_OK)


def _fallback_dir():
    uid = os.getuid() if hasattr(os, "getuid") else os.getlogin()
    return os.path.join(tempfile.gettempdir(), f"jitmlp-numba-cache-{uid}")


def _with_cache_dir(path, fn):
    old = config.CACHE_DIR
    config.CACHE_DIR = path
    try:
        return fn()
    finally:
        config.CACHE_DIR = old


def _choose():
    """(cache, cache_dir, cache_path): njit's ``cache`` flag, the CACHE_DIR
    to decorate under (None: Numba's own choice) and the resulting folder."""
    found = _numba_cache_dir()
    if found is not None:
        return True, None, found
    pkg = os.path.dirname(os.path.abspath(__file__))
    why = (f"jitmlp: no writable cache folder for the compiled kernels (the "
           f"package folder {pkg} and Numba's user cache folder are read-only")
    if config.CACHE_DIR:
        why += f", and so is NUMBA_CACHE_DIR={config.CACHE_DIR}"
    why += "); "
    try:
        fallback = _fallback_dir()
    except Exception:
        fallback = None
    if fallback is not None and _private_dir(fallback):
        found = _with_cache_dir(fallback, _numba_cache_dir)
        if found is not None:
            warnings.warn(why + f"they are cached in {fallback}. Set "
                          f"NUMBA_CACHE_DIR to a writable folder to choose "
                          f"where.", RuntimeWarning, stacklevel=2)
            return True, fallback, found
    warnings.warn(why + "they are not cached and compile in every process "
                  "(~25 s per dtype). Set NUMBA_CACHE_DIR to a writable "
                  "folder to cache them.", RuntimeWarning, stacklevel=2)
    return False, None, None


CACHE, CACHE_DIR, CACHE_PATH = _choose()


def kernel(**options):
    """``njit(cache=..., error_model="numpy", **options)`` with the cache
    folder chosen above."""
    def decorate(func):
        jit = njit(cache=CACHE, error_model="numpy", **options)
        if CACHE_DIR is None:
            return jit(func)
        return _with_cache_dir(CACHE_DIR, lambda: jit(func))
    return decorate
