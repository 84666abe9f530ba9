"""Guard against stale Numba caches.

Numba invalidates a cached kernel only when the source file of *that*
function changes; a kernel whose callee (in another file) changed would be
loaded stale from disk, with the old callee compiled in (seen here as a
segfault after a signature change).  At import we hash the source of every
kernel module and, when the hash differs from the one recorded beside the
cache, delete the cached kernels of this package so that they recompile.
"""
import glob
import hashlib
import os


def ensure_fresh_kernel_cache():
    kdir = os.path.join(os.path.dirname(__file__), "kernels")
    h = hashlib.sha256()
    for path in sorted(glob.glob(os.path.join(kdir, "*.py"))):
        with open(path, "rb") as f:
            h.update(os.path.basename(path).encode() + b"\0" + f.read())
    digest = h.hexdigest()
    cache = os.path.join(kdir, "__pycache__")
    stamp = os.path.join(cache, "jitmlp-kernels.sha256")
    try:
        with open(stamp) as f:
            if f.read().strip() == digest:
                return
    except OSError:
        pass
    try:
        os.makedirs(cache, exist_ok=True)
        for path in glob.glob(os.path.join(cache, "*.nb[ic]")):
            try:
                os.remove(path)
            except OSError:
                pass
        tmp = f"{stamp}.{os.getpid()}"
        with open(tmp, "w") as f:
            f.write(digest)
        os.replace(tmp, stamp)
    except OSError:
        pass  # read-only install: Numba then caches elsewhere or not at all
