"""Model files: the atomic writer and the checked reader behind
:meth:`jitmlp.MLP.save` and :func:`jitmlp.load`.

File format (format version 1)
------------------------------
A numpy ``.npz`` archive (a zip, members stored uncompressed) with exactly
three ``.npy`` members and no pickled object anywhere:

``meta.npy``
    A 0-d unicode array holding a JSON object ``{"format": "jitmlp-npz",
    "version": 1, "config": {...}, "training": bool}``; ``config`` is
    :meth:`MLP.get_config` (the constructor arguments).
``params.npy``
    The flat parameter buffer: 1-D, the model's dtype, ``n_params`` values.
``stats.npy``
    The flat buffer of BatchNorm running statistics (empty without it).

Naming rule: ``save(path)`` writes exactly ``path`` when it ends with
``.npz``, else ``path + ".npz"``; ``load(path)`` reads ``path`` when it names
an existing file, else ``path + ".npz"``.
"""
import json
import math
import os
import secrets
import stat
import struct
import zipfile
import zlib

import numpy as np
from numpy.lib import format as npformat

from . import _validation as V
from ._interrupt import Atomic

FORMAT = "jitmlp-npz"
FORMAT_VERSION = 1
SUFFIX = ".npz"
MAX_META_BYTES = 1 << 20       # a real model's JSON is a few hundred bytes
_MAX_HEADER_BYTES = 10_000     # numpy's own cap on .npy headers
_CHUNK_BYTES = 1 << 24         # read and checked 16 MiB at a time
_MEMBERS = ("meta.npy", "params.npy", "stats.npy")
_META_KEYS = ("format", "version", "config", "training")
_REAL = "real"
# config key -> the JSON types MLP accepts for it ("real": int or float)
_CONFIG_TYPES = {"sizes": list, "activation": str, "norm": (str, type(None)),
                 "residual": bool, "loss": str, "init": str,
                 "init_scale": _REAL, "dtype": str, "bn_momentum": _REAL,
                 "norm_eps": _REAL, "seed": (int, type(None)),
                 "dropout": (_REAL, list), "huber_delta": _REAL}
# keys added after format version 1 was first written: files without them
# load with these defaults (the behaviour of the jitmlp that wrote them)
_CONFIG_DEFAULTS = {"dropout": 0.0, "huber_delta": 1.0}


# ----------------------------------------------------------------- file names
def _fspath(path):
    try:
        p = os.fspath(path)
    except TypeError:
        raise TypeError(f"path must be a str or os.PathLike; got "
                        f"{type(path).__name__}") from None
    return os.fsdecode(p) if isinstance(p, bytes) else p


def save_path(path):
    """The file ``save(path)`` writes: ``path`` if it ends with ``.npz``,
    else ``path + ".npz"``."""
    p = _fspath(path)
    if p.endswith(os.sep) or (os.altsep and p.endswith(os.altsep)) \
            or os.path.isdir(p):
        raise ValueError(f"{p}: names a folder; give a file name, e.g. "
                         f"{os.path.join(p, 'model.npz')}")
    return p if p.endswith(SUFFIX) else p + SUFFIX


def load_path(path):
    """The file ``load(path)`` reads: ``path`` if it names an existing file,
    else ``path + ".npz"`` when that exists, else ``path`` (whose opening
    then raises FileNotFoundError or IsADirectoryError)."""
    p = _fspath(path)
    if not os.path.isfile(p) and not p.endswith(SUFFIX) \
            and os.path.isfile(p + SUFFIX):
        return p + SUFFIX
    return p


# ------------------------------------------------------------------- writing
def atomic_write(path, write_fn):
    """Write a file so that ``path`` is always either its old or its new
    complete content, whatever happens during the write.

    ``write_fn(f)`` writes to ``f``, a binary file opened on a temporary file
    in the folder of ``path`` (of its target when ``path`` is a symbolic
    link).  The temporary file is then flushed, fsynced and renamed onto
    ``path`` with :func:`os.replace` (atomic on POSIX and Windows), and the
    folder is fsynced where the platform allows it.  On any exception,
    KeyboardInterrupt included, the temporary file is removed and the
    exception propagates; ``path`` is untouched.  A process killed outright
    (SIGKILL, power loss) leaves ``path`` whole and may leave a stale
    ``.<name>.<random>.tmp`` file next to it.  An existing file's permission
    bits are kept; a new file gets the usual ``0o666 & ~umask``.

    Returns the path written (a str).
    """
    p = _fspath(path)
    target = os.path.realpath(p)
    folder = os.path.dirname(target)
    tmp = None
    try:
        # a Ctrl-C between the file's creation and ``tmp`` known is held
        # (an early version left the file behind)
        with Atomic():
            fd, tmp = _create_temp(folder, os.path.basename(target))
        with os.fdopen(fd, "wb") as f:
            write_fn(f)
            f.flush()
            os.fsync(f.fileno())
        _keep_mode(tmp, target)
        os.replace(tmp, target)
    except BaseException:
        with Atomic():    # a second Ctrl-C waits for the removal
            if tmp is not None:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
        raise
    _fsync_dir(folder)
    return p


def _keep_mode(tmp, target):
    """The old file's permission bits on the new one (no old file, or no
    chmod: umask's stay)."""
    try:
        os.chmod(tmp, stat.S_IMODE(os.stat(target).st_mode))
    except OSError:
        pass


def _create_temp(folder, base):
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = os.path.join(folder, f".{base[:200]}.{secrets.token_hex(6)}.tmp")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"could not create a temporary file in {folder}")


def _fsync_dir(folder):
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return                        # e.g. Windows: folders cannot be opened
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_npz(f, arrays):
    """numpy's ``savez`` layout (stored members, zip64), without pickle."""
    zf = m = None
    try:
        zf = zipfile.ZipFile(f, "w", zipfile.ZIP_STORED, allowZip64=True)
        for name, arr in arrays.items():
            m = zf.open(name + ".npy", "w", force_zip64=True)
            npformat.write_array(m, np.asanyarray(arr), allow_pickle=False)
            m.close()
            m = None
        zf.close()
    except BaseException:
        # (Ctrl-C, a full disk): the archive is abandoned with its temporary
        # file; closed here, member first, so that zipfile does not raise
        # "Can't close the ZIP file while there is an open writing handle"
        # in place of the KeyboardInterrupt, or print it at exit
        with Atomic():
            for h in (m, zf):
                if h is not None:
                    try:
                        h.close()
                    except Exception:
                        pass
            if zf is not None:
                zf.fp = None   # a close cut short: nothing left for __del__
        raise


def save(model, path):
    """:meth:`MLP.save` (see there); returns the path written."""
    final = save_path(path)
    problem = _buffer_problem(model.params, model.stats, model.state_dict())
    if problem:
        raise ValueError(f"cannot save to {final}: {problem} (no file was "
                         f"written; load could not read it back)")
    meta = json.dumps({"format": FORMAT, "version": FORMAT_VERSION,
                       "config": model.get_config(),
                       "training": bool(model.training)}, allow_nan=False)
    arrays = {"meta": np.array(meta), "params": model.params,
              "stats": model.stats}
    return atomic_write(final, lambda f: _write_npz(f, arrays))


def _buffer_problem(params, stats, sd):
    """What makes these buffers unfit for a model file, or None."""
    bad = _count_nonfinite(params)
    if bad:
        return f"params contains {bad} NaN or infinite values"
    bad = _count_nonfinite(stats)
    if bad:
        return (f"stats (BatchNorm running statistics) contains {bad} NaN or "
                f"infinite values")
    for name, arr in sd.items():
        if name.endswith(".running_var"):
            neg = int(np.count_nonzero(arr < 0))
            if neg:
                return f"{name} contains {neg} negative values"
    return None


def _count_nonfinite(a):
    n = 0
    step = max(1, _CHUNK_BYTES // max(a.itemsize, 1))
    for i in range(0, a.size, step):
        n += int(np.count_nonzero(~np.isfinite(a[i:i + step])))
    return n


# ------------------------------------------------------------------- reading
class _Refused(Exception):
    """A model file problem; :func:`load` re-raises it as ValueError."""


# what a malformed archive can raise inside zipfile, zlib and numpy's parsers
_CORRUPT = (zipfile.BadZipFile, zlib.error, EOFError, OSError, struct.error,
            ValueError, TypeError, KeyError, IndexError, NotImplementedError,
            RuntimeError, OverflowError, UnicodeError)


def load(path):
    """:func:`jitmlp.load` (see there)."""
    name = load_path(path)
    with open(name, "rb") as fh:      # FileNotFoundError, IsADirectoryError
        # a device or a FIFO would be read without end (zipfile reads to EOF)
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            raise ValueError(f"{name}: not a regular file")
        try:
            return _read(fh, name)
        except _Refused as exc:
            raise ValueError(f"{name}: {exc}") from None
        except _CORRUPT as exc:
            raise ValueError(f"{name}: not a readable jitmlp model file "
                             f"(corrupt or truncated: {type(exc).__name__}: "
                             f"{exc})") from exc
        except MemoryError:
            raise ValueError(f"{name}: declares more data than fits in "
                             f"memory") from None


def _read(fh, name):
    try:
        zf = zipfile.ZipFile(fh)
    except zipfile.BadZipFile:
        raise _Refused("not a jitmlp model file (not a zip/.npz archive, or "
                       "a truncated one)") from None
    with zf:
        infos = {}
        for info in zf.infolist():
            if info.filename in infos or info.filename not in _MEMBERS:
                raise _Refused(f"not a jitmlp model file: unexpected member "
                               f"{info.filename!r} (expected exactly "
                               f"{list(_MEMBERS)})")
            infos[info.filename] = info
        missing = [m for m in _MEMBERS if m not in infos]
        if missing:
            raise _Refused(f"not a jitmlp model file: missing members "
                           f"{missing}")
        for info in infos.values():
            if info.flag_bits & 0x1:
                raise _Refused(f"member {info.filename} is encrypted")
            # save writes stored members only: a compressed member is not a
            # file of ours, and the way to a zip bomb (a small file that
            # decompresses to gigabytes)
            if info.compress_type != zipfile.ZIP_STORED \
                    or info.compress_size != info.file_size:
                raise _Refused(f"member {info.filename} is compressed "
                               f"(method {info.compress_type}); jitmlp writes "
                               f"stored members only")
        # a forged zip directory can declare sizes the file does not hold:
        # nothing is allocated for more than the file's own size
        file_bytes = os.fstat(fh.fileno()).st_size
        declared = sum(i.file_size for i in infos.values())
        if declared > file_bytes:
            raise _Refused(f"the zip directory declares {declared} bytes of "
                           f"members but the file has {file_bytes}")
        meta = _read_meta(zf, infos["meta.npy"])
        cfg, training = _check_meta(meta)
        dt = np.dtype(cfg["dtype"])
        n_params, n_stats = count_buffers(cfg["sizes"], cfg["norm"])
        # the .npy headers (at most ~10 KB each) are checked against the
        # architecture, then the sizes of the zip directory against the
        # headers: no data is read, no buffer allocated before both agree
        headers = {member: _open_array(zf, infos[member + ".npy"], member, n,
                                       dt, cfg)
                   for member, n in (("params", n_params), ("stats", n_stats))}
        model = _empty_model(cfg)
        for member, buf in (("params", model.params), ("stats", model.stats)):
            _read_data(zf, infos[member + ".npy"], headers[member], buf,
                       member)
    problem = _buffer_problem(model.params, model.stats, model.state_dict())
    if problem:
        raise _Refused(problem)
    model.training = training
    return model


def count_buffers(sizes, norm):
    """(n_params, n_stats) of an architecture, by arithmetic only (nothing
    allocated): must agree with :func:`jitmlp._layout.build_layout`."""
    n_params = n_stats = 0
    n_layers = len(sizes) - 1
    for l in range(n_layers):
        n_in, n_out = sizes[l], sizes[l + 1]
        hidden = l < n_layers - 1
        n_params += n_in * n_out
        if not (hidden and norm == "batch"):
            n_params += n_out                       # b
        if hidden and norm is not None:
            n_params += 2 * n_out                   # gamma, beta
        if hidden and norm == "batch":
            n_stats += 2 * n_out                    # running mean, var
    return n_params, n_stats


class _Counting:
    """A reader that counts the bytes read (the .npy header's length)."""

    def __init__(self, f):
        self.f = f
        self.n = 0

    def read(self, k=-1):
        b = self.f.read(k)
        self.n += len(b)
        return b


def _read_header(m, label):
    """(dtype, shape, fortran_order, header_bytes) of a .npy stream."""
    c = _Counting(m)
    try:
        version = npformat.read_magic(c)
    except ValueError:
        raise _Refused(f"member {label} is not a .npy array") from None
    if version == (1, 0):
        shape, fortran, dtype = npformat.read_array_header_1_0(
            c, max_header_size=_MAX_HEADER_BYTES)
    elif version == (2, 0):
        shape, fortran, dtype = npformat.read_array_header_2_0(
            c, max_header_size=_MAX_HEADER_BYTES)
    else:
        raise _Refused(f"member {label} has .npy format version {version}, "
                       f"which save never writes")
    return dtype, shape, fortran, c.n


def _read_meta(zf, info):
    if info.file_size > MAX_META_BYTES:
        raise _Refused(f"meta is {info.file_size} bytes; more than the "
                       f"{MAX_META_BYTES} a model file's meta may have")
    with zf.open(info) as m:
        dtype, shape, fortran, hdr = _read_header(m, "meta.npy")
        if dtype.kind != "U" or shape != () or fortran:
            raise _Refused(f"meta must be a 0-d unicode array; got dtype "
                           f"{dtype}, shape {shape}")
        if info.file_size != hdr + dtype.itemsize:
            raise _Refused(f"meta member has {info.file_size} bytes; its "
                           f"header declares {hdr + dtype.itemsize}")
        data = m.read(dtype.itemsize)
    if len(data) != dtype.itemsize:
        raise _Refused("meta is truncated")
    text = str(np.frombuffer(data, dtype=dtype)[0])

    def no_constant(c):
        raise _Refused(f"meta contains {c}, which is not JSON")
    try:
        return json.loads(text, parse_constant=no_constant)
    except ValueError as exc:    # JSONDecodeError, ints of 4300+ digits
        raise _Refused(f"meta is not valid JSON ({exc})") from None
    except RecursionError:
        raise _Refused("meta is not valid JSON (nested too deeply)") from None


def _type_name(t):
    ts = t if isinstance(t, tuple) else (t,)
    names = {bool: "true or false", int: "an integer", str: "a string",
             list: "a list", type(None): "null", _REAL: "a number"}
    return " or ".join(names[x] for x in ts)


def _exact(value, t):
    ts = t if isinstance(t, tuple) else (t,)
    if _REAL in ts and type(value) in (int, float):
        return True
    return type(value) in ts          # exact: bool is not an int here


def _check_meta(meta):
    if not isinstance(meta, dict):
        raise _Refused(f"meta is not a JSON object (got a JSON "
                       f"{type(meta).__name__})")
    if meta.get("format") != FORMAT:
        raise _Refused(f"not a jitmlp model file (format "
                       f"{meta.get('format')!r}, expected {FORMAT!r})")
    version = meta.get("version")
    if type(version) is not int or version < 1:
        raise _Refused(f"meta 'version' must be a positive integer; got "
                       f"{version!r}")
    if version > FORMAT_VERSION:
        raise _Refused(f"written by a newer jitmlp (format version {version}; "
                       f"this jitmlp reads up to {FORMAT_VERSION}): upgrade "
                       f"jitmlp to load it")
    _check_keys("meta", meta, _META_KEYS)
    training = meta["training"]
    if type(training) is not bool:
        raise _Refused(f"meta 'training' must be true or false; got "
                       f"{training!r}")
    cfg = meta["config"]
    if not isinstance(cfg, dict):
        raise _Refused(f"meta 'config' must be a JSON object; got {cfg!r}")
    cfg = {**_CONFIG_DEFAULTS, **cfg}
    _check_keys("config", cfg, tuple(_CONFIG_TYPES))
    for key, t in _CONFIG_TYPES.items():
        if not _exact(cfg[key], t):
            raise _Refused(f"config {key!r} must be {_type_name(t)}; got "
                           f"{cfg[key]!r}")
    sizes = cfg["sizes"]
    if len(sizes) < 2 or any(type(k) is not int or k < 1 for k in sizes):
        raise _Refused(f"config 'sizes' must be a list of at least 2 "
                       f"integers >= 1; got {_short(sizes)}")
    if cfg["seed"] is not None and cfg["seed"] < 0:
        raise _Refused(f"config 'seed' must be >= 0 or null; got "
                       f"{cfg['seed']}")
    rates = cfg["dropout"] if type(cfg["dropout"]) is list \
        else [cfg["dropout"]]
    if any(type(p) not in (int, float) or not 0.0 <= p < 1.0 for p in rates) \
            or (type(cfg["dropout"]) is list
                and len(rates) != len(sizes) - 2):
        raise _Refused(f"config 'dropout' must be a number in [0, 1) or a "
                       f"list of one per hidden layer; got "
                       f"{_short(rates)}")
    if not cfg["huber_delta"] > 0 or not math.isfinite(cfg["huber_delta"]):
        raise _Refused(f"config 'huber_delta' must be > 0; got "
                       f"{cfg['huber_delta']!r}")
    try:
        V.choice("norm", cfg["norm"], tuple(V.NORMS))
        V.resolve_dtype(cfg["dtype"])
    except ValueError as exc:
        raise _Refused(f"config: {exc}") from None
    return cfg, training


def _check_keys(what, d, expected):
    unknown = sorted(set(d) - set(expected))
    missing = [k for k in expected if k not in d]
    if unknown:
        raise _Refused(f"unknown {what} keys {unknown}")
    if missing:
        raise _Refused(f"missing {what} keys {missing}")


def _short(seq, n=8):
    s = repr(seq[:n])
    return s[:-1] + ", ...]" if len(seq) > n else s


def _open_array(zf, info, member, n, dt, cfg):
    """Check the .npy header of a member against the architecture and the
    member's uncompressed size (zip directory) against its header; returns
    (header bytes, dtype).  Reads the header only."""
    with zf.open(info) as m:
        dtype, shape, fortran, hdr = _read_header(m, info.filename)
    if dtype.kind != "f" or dtype.itemsize != dt.itemsize or fortran:
        order = " (Fortran order)" if fortran else ""
        raise _Refused(f"{member} has dtype {dtype}{order}; the config's "
                       f"dtype is {dt.name}")
    if shape != (n,):
        raise _Refused(f"{member} has shape {shape}; the architecture sizes="
                       f"{_short(cfg['sizes'])} (norm={cfg['norm']!r}) needs "
                       f"({n},)")
    if info.file_size != hdr + n * dt.itemsize:
        raise _Refused(f"{member} member is {info.file_size} bytes "
                       f"uncompressed; its header and the architecture "
                       f"need {hdr + n * dt.itemsize}")
    return hdr, dtype


def _empty_model(cfg):
    from .model import MLP
    try:
        return MLP._empty(cfg)
    except (TypeError, ValueError) as exc:
        raise _Refused(f"config: {exc}") from None


def _read_data(zf, info, header, out, member):
    """Read a member's values straight into ``out`` (no second copy)."""
    hdr, dtype = header
    with zf.open(info) as m:
        if len(m.read(hdr)) != hdr:
            raise _Refused(f"{member} is truncated")
        view = memoryview(out).cast("B")
        pos = 0
        while pos < len(view):
            k = m.readinto(view[pos:pos + _CHUNK_BYTES])
            if not k:
                raise _Refused(f"{member} is truncated")
            pos += k
    if not dtype.isnative:
        out.byteswap(inplace=True)
