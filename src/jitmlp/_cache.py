"""Guard against stale Numba caches, in every folder the kernels are cached in.

Numba invalidates a cached kernel only when the source file of *that*
function changes; a kernel whose callee or constant (in another file)
changed would be loaded stale from disk, with the old callee compiled in
(seen here as a segfault after a signature change).

Where the kernels are cached is decided in ``kernels/_jit.py`` when they are
decorated: ``NUMBA_CACHE_DIR`` if set and writable, else ``__pycache__``
beside the kernels, else Numba's user cache folder, else a private per-user
folder under the temporary folder (one warning), else nowhere (one warning).

At import, right after the kernel modules are decorated and before any
kernel is called (Numba loads a cached kernel at its first call), we hash
the source of every kernel module and, for each distinct cache folder of
the kernels' dispatchers, compare it with the stamp file
``jitmlp-kernels.sha256`` kept there; on a mismatch we delete that folder's
``*.nbi``/``*.nbc`` files of our kernel modules (nothing else) so that they
recompile, and write the new stamp.
"""
import glob
import hashlib
import importlib
import os

STAMP = "jitmlp-kernels.sha256"
_KDIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "kernels")


def _kernel_modules():
    return sorted(os.path.splitext(os.path.basename(p))[0]
                  for p in glob.glob(os.path.join(_KDIR, "*.py")))


def source_digest():
    """sha256 over the names and sources of every kernel module."""
    h = hashlib.sha256()
    for path in sorted(glob.glob(os.path.join(_KDIR, "*.py"))):
        with open(path, "rb") as f:
            h.update(os.path.basename(path).encode() + b"\0" + f.read())
    return h.hexdigest()


def kernel_cache_dirs():
    """Import every kernel module; the distinct cache folders of their
    dispatchers (empty when the kernels are not cached)."""
    from numba.core.dispatcher import Dispatcher
    dirs = set()
    for name in _kernel_modules():
        mod = importlib.import_module(f"{__package__}.kernels.{name}")
        for obj in vars(mod).values():
            if isinstance(obj, Dispatcher):
                path = getattr(getattr(obj, "_cache", None), "cache_path",
                               None)
                if path:
                    dirs.add(os.path.abspath(path))
    return sorted(dirs)


def _refresh(cache, digest, modules):
    """Clear our kernels from ``cache`` unless its stamp is ``digest``;
    True if it cleared."""
    stamp = os.path.join(cache, STAMP)
    try:
        with open(stamp) as f:
            if f.read().strip() == digest:
                return False
    except OSError:
        pass
    try:
        os.makedirs(cache, exist_ok=True)
        for mod in modules:
            for path in glob.glob(os.path.join(glob.escape(cache),
                                               glob.escape(mod) + ".*.nb[ic]")):
                try:
                    os.remove(path)
                except OSError:
                    pass
        tmp = f"{stamp}.{os.getpid()}"
        with open(tmp, "w") as f:
            f.write(digest)
        os.replace(tmp, stamp)
    except OSError:
        pass  # a folder we cannot write: Numba cannot cache there either
    return True


# the digest of the kernel sources this process checked at import (the code
# it runs), or None before that; the compile helper (_precompile.py) compares
# it with the files it finds, and does nothing when they differ
IMPORTED_DIGEST = None


def ensure_fresh_kernel_cache():
    """Import (decorate) the kernels and clear every stale cache of them.

    Returns the cache folders checked."""
    global IMPORTED_DIGEST
    dirs = kernel_cache_dirs()
    if dirs:
        digest = IMPORTED_DIGEST = source_digest()
        modules = _kernel_modules()
        for cache in dirs:
            _refresh(cache, digest, modules)
    return dirs
