"""Saved models (issue 9): exact round trips, the naming rule, atomic saves,
and load refusing, fast and without large allocations, every file that
save would not write."""
import io
import struct
import json
import os
import pickle
import signal
import subprocess
import sys
import time
import tracemalloc
import zipfile

import numpy as np
import pytest
from numpy.lib import format as npformat

import jitmlp as jm
from jitmlp import _io
from jitmlp import schedules as S
from jitmlp.model import load as model_load


def small(norm="batch", dtype="float64", seed=0):
    m = jm.MLP([3, 4, 2], norm=norm, loss="cross_entropy", dtype=dtype,
               seed=seed)
    if m.stats.size:
        m.stats[...] = np.random.default_rng(seed).random(m.stats.size) + 0.5
    return m


def assert_same(a, b):
    assert a.get_config() == b.get_config()
    assert a.params.dtype == b.params.dtype
    assert np.array_equal(a.params, b.params)
    assert np.array_equal(a.stats, b.stats)
    assert a.training is b.training


def read_members(path):
    """meta (dict), params, stats of a file written by save."""
    with np.load(path, allow_pickle=False) as f:
        return json.loads(str(f["meta"])), f["params"], f["stats"]


def write_model_file(path, meta, params, stats, *, extra=None, drop=(),
                     meta_array=None):
    """A hand-made model file: any meta (dict or raw text), any arrays."""
    if meta_array is None:
        text = meta if isinstance(meta, str) else json.dumps(meta)
        meta_array = np.array(text)
    members = {"meta": meta_array, "params": params, "stats": stats}
    members.update(extra or {})
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for name, arr in members.items():
            if name in drop:
                continue
            with zf.open(name + ".npy", "w") as m:
                npformat.write_array(m, np.asanyarray(arr), allow_pickle=True)
    return path


def refused(path, *phrases):
    """load(path) raises ValueError naming the file and every phrase."""
    with pytest.raises(ValueError) as e:
        jm.load(path)
    msg = str(e.value)
    assert os.fspath(path) in msg, msg
    for p in phrases:
        assert p in msg, msg
    return msg


# ------------------------------------------------------------- round trips
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("norm", [None, "batch", "layer"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_round_trip_is_exact(tmp_path, dtype, norm, training, rng):
    m = jm.MLP([3, 6, 6, 2], norm=norm, residual=True, activation="tanh",
               loss="cross_entropy", dtype=dtype, bn_momentum=0.3,
               norm_eps=1e-3, init_scale=0.7, seed=0)
    m.params[...] = rng.standard_normal(m.params.size)
    m.stats[...] = rng.random(m.stats.size)
    m.train(training)
    path = tmp_path / "model.npz"
    assert m.save(path) == str(path)
    m2 = jm.load(path)
    assert_same(m, m2)
    m.eval(), m2.eval()
    X = rng.standard_normal((5, 3))
    assert np.array_equal(m2.forward(X), m.forward(X))
    with np.load(path, allow_pickle=False) as f:  # no pickle inside
        assert set(f.files) == {"meta", "params", "stats"}


def test_load_is_reexported_and_large_models_load(tmp_path):
    assert model_load is jm.load
    m = jm.MLP([1000, 1000, 3], dtype="float32", seed=1)   # 1M parameters
    m.save(tmp_path / "big.npz")
    assert_same(m, model_load(tmp_path / "big.npz"))


def test_count_buffers_agrees_with_the_layout():
    for sizes in ([3, 1], [3, 5, 2], [4, 4, 4, 7, 1]):
        for norm in (None, "batch", "layer"):
            m = jm.MLP(sizes, norm=norm)
            assert _io.count_buffers(sizes, norm) == (m.params.size,
                                                      m.stats.size)


# -------------------------------------------------------------- naming rule
def test_naming_rule_is_symmetric(tmp_path):
    m = small()
    assert m.save(tmp_path / "m") == str(tmp_path / "m.npz")
    assert os.listdir(tmp_path) == ["m.npz"]
    assert_same(m, jm.load(tmp_path / "m"))                 # pathlib.Path
    assert_same(m, jm.load(str(tmp_path / "m")))            # str
    assert_same(m, jm.load(str(tmp_path / "m.npz")))
    m.save(str(tmp_path / "x.npz"))                       # exactly as given
    assert sorted(os.listdir(tmp_path)) == ["m.npz", "x.npz"]
    # an existing file named as given wins over the suffixed one
    (tmp_path / "m").write_bytes(b"not a model")
    refused(tmp_path / "m", "not a zip")


def test_missing_file_and_directory_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        jm.load(tmp_path / "nothing")
    with pytest.raises(FileNotFoundError):
        jm.load(tmp_path / "nothing.npz")
    with pytest.raises(IsADirectoryError):
        jm.load(tmp_path)
    with pytest.raises(TypeError, match="os.PathLike"):
        small().save(io.BytesIO())


# ----------------------------------------------------- numpy scalar inputs
@pytest.mark.parametrize("T", [np.int32, np.int64, np.uint8])
def test_numpy_integers_and_floats_are_accepted(tmp_path, T):
    m = jm.MLP([T(3), T(4), T(1)], seed=T(3), init_scale=np.float32(0.5),
               bn_momentum=np.float32(0.25), norm_eps=np.float64(1e-4))
    cfg = m.get_config()
    assert cfg["seed"] == 3 and type(cfg["seed"]) is int
    assert all(type(k) is int for k in cfg["sizes"])
    assert all(type(cfg[k]) is float
               for k in ("init_scale", "bn_momentum", "norm_eps"))
    assert np.array_equal(m.params, jm.MLP([3, 4, 1], seed=3,
                                           init_scale=0.5).params)
    m.save(tmp_path / "m")
    assert_same(m, jm.load(tmp_path / "m"))
    opt = jm.SGD(lr=np.float32(0.05), momentum=np.float32(0.5))
    tr = jm.Trainer(m, opt, batch_size=T(4), epochs=T(1), seed=T(2),
                    patience=T(2))
    assert (type(tr.batch_size), type(tr.epochs), type(tr.seed)) == (int,) * 3
    X = np.random.default_rng(0).standard_normal((8, 3))
    hist = tr.fit(X, X[:, 0], epochs=T(2))
    assert len(hist) == 2
    jm.Adam(lr=np.float32(1e-3), betas=(np.float32(0.9), np.float64(0.99)),
            eps=np.float32(1e-8), weight_decay=np.float32(0.0))
    assert S.StepDecay(T(3), np.float32(0.5)).step_size == 3
    assert S.Cosine(T(5), t_mult=T(2)).T == 5
    assert S.LinearWarmup(T(2)).warmup == 2
    assert S.ReduceOnPlateau(patience=T(2)).patience == 2
    prev = jm.set_num_threads(T(1))
    jm.set_num_threads(prev)


def test_negative_seed_is_a_clear_error():
    with pytest.raises(ValueError, match="seed"):
        jm.MLP([2, 1], seed=-1)


# ------------------------------------------------------------ atomic saves
@pytest.mark.parametrize("exc", [OSError("disk full"), KeyboardInterrupt()])
def test_failed_write_leaves_old_file_and_no_temp(tmp_path, exc):
    p = tmp_path / "f.bin"
    p.write_bytes(b"old content")

    def write(f):
        f.write(b"new, half written")
        raise exc
    with pytest.raises(type(exc)):
        _io.atomic_write(p, write)
    assert p.read_bytes() == b"old content"
    assert os.listdir(tmp_path) == ["f.bin"]


def test_atomic_write_replaces_keeps_mode_and_symlinks(tmp_path):
    p = tmp_path / "f.bin"
    p.write_bytes(b"old")
    os.chmod(p, 0o640)
    link = tmp_path / "link.bin"
    link.symlink_to(p)
    _io.atomic_write(link, lambda f: f.write(b"new"))
    assert link.is_symlink() and p.read_bytes() == b"new"
    assert (os.stat(p).st_mode & 0o777) == 0o640
    assert sorted(os.listdir(tmp_path)) == ["f.bin", "link.bin"]


def test_save_of_non_finite_model_writes_nothing(tmp_path):
    m = small()
    m.save(tmp_path / "m.npz")
    before = (tmp_path / "m.npz").read_bytes()
    bad = m.copy()
    bad.params[:3] = np.nan
    with pytest.raises(ValueError, match="3 NaN or infinite"):
        bad.save(tmp_path / "m.npz")
    bad = m.copy()
    bad.state_dict()["hidden.0.running_var"][0] = -1.0
    with pytest.raises(ValueError, match="running_var contains 1 negative"):
        bad.save(tmp_path / "m.npz")
    assert (tmp_path / "m.npz").read_bytes() == before
    assert os.listdir(tmp_path) == ["m.npz"]


def _temp_bytes(folder):
    """Bytes in the temporary files of ``folder`` (0 if none)."""
    n = 0
    for e in os.scandir(folder):
        if e.name.endswith(".tmp"):
            try:
                n += e.stat().st_size
            except FileNotFoundError:          # renamed meanwhile
                pass
    return n


_CHILD = """
import signal, sys
# Ctrl-C as in a terminal, even when this suite runs as a background job
# (a shell starts those with SIGINT ignored, and children inherit that)
signal.signal(signal.SIGINT, signal.default_int_handler)
import jitmlp as jm
m = jm.MLP([3000, 10000, 1], seed=1)          # 30M parameters, 240 MB
print("saving", flush=True)
m.save(sys.argv[1])
"""


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_killed_or_interrupted_save_keeps_the_old_file(tmp_path, sig):
    """A child process saving a 30M-parameter model over an old file is
    killed (SIGKILL) or interrupted (SIGINT, Ctrl-C) in mid-write."""
    path = tmp_path / "model.npz"
    old = small()
    old.save(path)
    env = dict(os.environ,
               PYTHONPATH=os.path.dirname(os.path.dirname(jm.__file__)))
    for _attempt in range(3):
        caught = False
        child = subprocess.Popen([sys.executable, "-c", _CHILD, str(path)],
                                 env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL)
        try:
            assert child.stdout.readline() == b"saving\n"
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and child.poll() is None:
                if _temp_bytes(tmp_path) > 0:
                    os.kill(child.pid, sig)
                    caught = True
                    break
                time.sleep(0.0005)
        finally:
            try:
                child.wait(timeout=60 if caught else 0)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
            child.stdout.close()
        if caught:
            break
        # the save finished before we saw it: put the old file back, retry
        old.save(path)
    else:   # a 240 MB save took less than the 0.5 ms polling interval
        pytest.fail("could not catch the child in the middle of its save "
                    "in 3 attempts")
    assert child.returncode == -sig
    # SIGKILL can leave the temporary file, Ctrl-C removes it
    stale = [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]
    assert bool(stale) == (sig == signal.SIGKILL)
    assert_same(old, jm.load(path))


# ------------------------------------------------------- refusing bad files
@pytest.fixture
def good(tmp_path):
    """(meta, params, stats) of a saved BatchNorm model and its path."""
    p = tmp_path / "good.npz"
    small().save(p)
    return read_members(p)


def test_foreign_and_malformed_archives(tmp_path, good):
    meta, params, stats = good
    p = tmp_path / "x.npz"
    np.savez(p, a=np.zeros(2))
    refused(p, "not a jitmlp model")
    p.write_bytes(b"hello")
    refused(p, "not a zip")
    p.write_bytes(b"")
    refused(p, "not a zip")
    full = (tmp_path / "good.npz").read_bytes()
    for cut in (len(full) // 2, len(full) - 30, 100):
        p.write_bytes(full[:cut])
        refused(p)
    refused(write_model_file(p, meta, params, stats, drop=("stats",)),
            "missing members ['stats.npy']")
    refused(write_model_file(p, meta, params, stats,
                             extra={"evil": np.zeros(1)}),
            "unexpected member 'evil.npy'")


def test_corrupt_data_is_refused(tmp_path):
    p = tmp_path / "m.npz"
    small().save(p)
    raw = bytearray(p.read_bytes())
    i = raw.index(b"params.npy") + 200   # inside params' data
    raw[i] ^= 0xFF
    p.write_bytes(bytes(raw))
    refused(p, "corrupt")


@pytest.mark.parametrize("mutate, phrase", [
    (lambda m: "{not json", "not valid JSON"),
    (lambda m: "[1, 2]", "not a JSON object"),
    (lambda m: "[" * 100000, "not valid JSON"),
    (lambda m: {**m, "format": "other"}, "not a jitmlp model"),
    (lambda m: {**m, "version": 2}, "newer jitmlp"),
    (lambda m: {**m, "version": "1"}, "'version'"),
    (lambda m: {**m, "training": "false"}, "'training' must be true or false"),
    (lambda m: {**m, "training": 0}, "'training' must be true or false"),
    (lambda m: {**m, "extra": 1}, "unknown meta keys ['extra']"),
    (lambda m: {k: v for k, v in m.items() if k != "training"},
     "missing meta keys ['training']"),
    (lambda m: {**m, "config": [1]}, "'config' must be a JSON object"),
    (lambda m: {**m, "config": {**m["config"], "dropconnect": 0.5}},
     "unknown config keys ['dropconnect']"),
    (lambda m: {**m, "config": {k: v for k, v in m["config"].items()
                                if k != "seed"}}, "missing config keys"),
    (lambda m: {**m, "config": {**m["config"], "sizes": [3.0, 4, 2]}},
     "'sizes'"),
    (lambda m: {**m, "config": {**m["config"], "sizes": [True, 4, 2]}},
     "'sizes'"),
    (lambda m: {**m, "config": {**m["config"], "sizes": "342"}}, "'sizes'"),
    (lambda m: {**m, "config": {**m["config"], "residual": "false"}},
     "'residual' must be true or false"),
    (lambda m: {**m, "config": {**m["config"], "seed": -1}}, "'seed'"),
    (lambda m: {**m, "config": {**m["config"], "seed": 1.5}}, "'seed'"),
    (lambda m: {**m, "config": {**m["config"], "init_scale": "1"}},
     "'init_scale'"),
    (lambda m: {**m, "config": {**m["config"], "activation": 3}},
     "'activation'"),
    (lambda m: {**m, "config": {**m["config"], "activation": "nope"}},
     "activation must be one of"),
    (lambda m: {**m, "config": {**m["config"], "norm": "group"}}, "norm"),
    (lambda m: {**m, "config": {**m["config"], "dtype": "int32"}}, "dtype"),
    (lambda m: {**m, "config": {**m["config"], "bn_momentum": 2.0}},
     "bn_momentum"),
    (lambda m: json.dumps(m).replace('"init_scale": 1.0',
                                     '"init_scale": NaN'), "NaN"),
    (lambda m: {**m, "config": {**m["config"], "dropout": 1.0}}, "'dropout'"),
    (lambda m: {**m, "config": {**m["config"], "dropout": "0.1"}},
     "'dropout'"),
    (lambda m: {**m, "config": {**m["config"], "dropout": [0.1, 0.2]}},
     "'dropout'"),
    (lambda m: {**m, "config": {**m["config"], "huber_delta": 0}},
     "'huber_delta'"),
])
def test_bad_meta_is_refused(tmp_path, good, mutate, phrase):
    meta, params, stats = good
    p = write_model_file(tmp_path / "m.npz", mutate(meta), params, stats)
    before = p.read_bytes()
    refused(p, phrase)
    assert p.read_bytes() == before            # refusal changes nothing


@pytest.mark.parametrize("meta_array", [np.array(7), np.array(["{}"]),
                                        np.array(b"{}")])
def test_meta_must_be_a_unicode_scalar(tmp_path, good, meta_array):
    _, params, stats = good
    p = write_model_file(tmp_path / "m.npz", None, params, stats,
                         meta_array=meta_array)
    refused(p, "meta must be a 0-d unicode array")


def test_meta_size_is_capped(tmp_path, good):
    meta, params, stats = good
    meta = {**meta, "pad": "x" * (1 << 20)}
    refused(write_model_file(tmp_path / "m.npz", meta, params, stats),
            "meta is", "bytes")


class _Boom:
    """Unpickling this would create a file: proof that load runs no code."""
    marker = None

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("convert, phrase", [
    (lambda a: a.astype(np.float32), "dtype float32"),
    (lambda a: a.astype(np.int64), "dtype int64"),
    (lambda a: a.astype(bool), "dtype bool"),
    (lambda a: a.astype(np.complex128), "dtype complex128"),
    (lambda a: a.astype(str), "dtype <U"),
    (lambda a: a.astype("datetime64[s]"), "dtype datetime64"),
    (lambda a: a.astype(object), "dtype object"),
    (lambda a: a.reshape(1, -1), "has shape (1, "),
    (lambda a: a[:-1], "has shape (29,); the architecture"),
    (lambda a: np.concatenate([a, a]), "has shape (60,); the architecture"),
])
def test_params_of_another_dtype_or_size_are_refused(tmp_path, good, convert,
                                                     phrase):
    meta, params, stats = good
    p = write_model_file(tmp_path / "m.npz", meta, convert(params), stats)
    refused(p, phrase)


def test_pickled_objects_never_run(tmp_path, good):
    meta, params, stats = good
    marker = tmp_path / "pwned"
    _Boom.marker = str(marker)
    obj = np.empty(params.size, dtype=object)
    obj[:] = [_Boom() for _ in range(params.size)]
    pickle.dumps(obj)                          # the payload is a real one
    p = write_model_file(tmp_path / "m.npz", meta, obj, stats)
    refused(p, "dtype object")
    assert not marker.exists()


@pytest.mark.parametrize("where, value, phrase", [
    ("params", np.nan, "params contains 3 NaN or infinite values"),
    ("params", np.inf, "params contains 3 NaN or infinite values"),
    ("mean", np.inf, "stats (BatchNorm running statistics) contains 3 NaN"),
    ("var", np.nan, "stats (BatchNorm running statistics) contains 3 NaN"),
    ("var", -1.0, "hidden.0.running_var contains 3 negative values"),
])
def test_non_finite_values_and_negative_variances(tmp_path, good, where,
                                                  value, phrase):
    meta, params, stats = good
    params, stats = params.copy(), stats.copy()
    if where == "params":
        params[[0, 5, 9]] = value
    elif where == "mean":
        stats[:3] = value                      # hidden.0.running_mean
    else:
        stats[4:7] = value                     # hidden.0.running_var
    p = write_model_file(tmp_path / "model.npz", meta, params, stats)
    msg = refused(p, phrase)
    assert msg.startswith(f"{p}: ")


# ------------------------------------------ huge declarations, zip bombs
def _refusal_cost(path):
    jm.load(path.parent / "good.npz")          # warm: imports, caches
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        with pytest.raises(ValueError) as e:
            jm.load(path)
        seconds = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return str(e.value), seconds, peak


def test_huge_declared_layer_is_refused_fast(tmp_path, good):
    meta, params, stats = good
    meta = {**meta, "config": {**meta["config"], "sizes": [10000, 10000, 2]}}
    p = write_model_file(tmp_path / "m.npz", meta, params, stats)
    assert p.stat().st_size < 4096
    msg, seconds, peak = _refusal_cost(p)
    assert "needs (100040002,)" in msg
    assert seconds < 0.5 and peak < 4 << 20, (seconds, peak)


@pytest.mark.parametrize("declared", ["huge", "true"])
def test_zip_bomb_is_refused_fast(tmp_path, good, declared):
    """params.npy inflates to 64 MiB of zeros; its header declares that
    size, or the shape the architecture needs (then data follow it)."""
    meta, params, stats = good
    p = tmp_path / "bomb.npz"
    n = 8 << 20
    shape = (n,) if declared == "huge" else params.shape
    header = io.BytesIO()
    npformat.write_array_header_1_0(
        header, {"descr": "<f8", "fortran_order": False, "shape": shape})
    zeros = bytes(1 << 20)
    with zipfile.ZipFile(p, "w", zipfile.ZIP_STORED) as zf:
        for name, arr in (("meta", np.array(json.dumps(meta))),
                          ("stats", stats)):
            with zf.open(name + ".npy", "w") as m:
                npformat.write_array(m, arr)
        info = zipfile.ZipInfo("params.npy")
        info.compress_type = zipfile.ZIP_DEFLATED
        with zf.open(info, "w", force_zip64=True) as m:
            m.write(header.getvalue())
            for _ in range(n * 8 // len(zeros)):
                m.write(zeros)
    assert p.stat().st_size < 256 << 10
    msg, seconds, peak = _refusal_cost(p)
    assert "is compressed" in msg       # save never compresses
    assert seconds < 0.5 and peak < 4 << 20, (seconds, peak)


def test_header_declaring_a_huge_shape_is_refused_before_reading(tmp_path,
                                                                 good):
    """The right number of bytes, but a header declaring 10**10 values."""
    meta, params, stats = good
    p = tmp_path / "m.npz"
    header = io.BytesIO()
    npformat.write_array_header_1_0(
        header, {"descr": "<f8", "fortran_order": False, "shape": (10**10,)})
    with zipfile.ZipFile(p, "w", zipfile.ZIP_STORED) as zf:
        for name, arr in (("meta", np.array(json.dumps(meta))),
                          ("stats", stats)):
            with zf.open(name + ".npy", "w") as m:
                npformat.write_array(m, arr)
        with zf.open("params.npy", "w") as m:
            m.write(header.getvalue() + params.tobytes())
    msg, seconds, peak = _refusal_cost(p)
    assert "params has shape (10000000000,)" in msg
    assert seconds < 0.5 and peak < 4 << 20, (seconds, peak)


def test_deflated_member_of_the_right_size_is_refused(tmp_path, good):
    """A zip bomb that matches the architecture: sizes [1, 8000, 8000, 1]
    and params.npy deflated from 512 MB of zeros to half a MB (found by an
    attack; it used to load in 2.5 s with 0.5 GB)."""
    m = jm.MLP([1, 300, 300, 1], seed=0)
    p = tmp_path / "m.npz"
    m.save(p)
    bomb = tmp_path / "bomb.npz"
    with zipfile.ZipFile(p) as src, zipfile.ZipFile(bomb, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            kind = (zipfile.ZIP_DEFLATED if info.filename == "params.npy"
                    else zipfile.ZIP_STORED)
            dst.writestr(info.filename, data, compress_type=kind)
    msg, seconds, peak = _refusal_cost(bomb)
    assert "is compressed" in msg
    assert seconds < 0.5 and peak < 4 << 20


def test_forged_directory_sizes_allocate_nothing(tmp_path, good):
    """The zip directory claims the sizes the architecture needs while the
    file holds 1 KB of data: refused before any buffer is allocated."""
    meta = {"format": "jitmlp-npz", "version": 1, "training": False,
            "config": jm.MLP([1, 2, 1], seed=0).get_config()}
    meta["config"]["sizes"] = [1, 10000, 10000, 1]
    p = tmp_path / "forged.npz"
    n = 10000 + 10000 + 10000 * 10000 + 10000 + 10000 + 1
    with zipfile.ZipFile(p, "w", zipfile.ZIP_STORED) as zf:
        with zf.open("meta.npy", "w") as f:
            npformat.write_array(f, np.array(json.dumps(meta)))
        with zf.open("stats.npy", "w") as f:
            npformat.write_array(f, np.zeros(0))
        header = io.BytesIO()
        npformat.write_array_header_1_0(
            header, {"descr": "<f8", "fortran_order": False, "shape": (n,)})
        with zf.open("params.npy", "w") as f:
            f.write(header.getvalue() + bytes(1024))
    raw = bytearray(p.read_bytes())
    # patch the central directory entry's sizes of params.npy to the full size
    full = len(header.getvalue()) + 8 * n
    i = raw.rfind(b"PK\x01\x02")
    while i >= 0:
        name_len = struct.unpack_from("<H", raw, i + 28)[0]
        if raw[i + 46:i + 46 + name_len] == b"params.npy":
            struct.pack_into("<II", raw, i + 20, full, full)
        i = raw.rfind(b"PK\x01\x02", 0, i)
    p.write_bytes(bytes(raw))
    msg, seconds, peak = _refusal_cost(p)
    assert "declares" in msg or "truncated" in msg or "corrupt" in msg, msg
    assert seconds < 0.5 and peak < 4 << 20, (seconds, peak)


@pytest.mark.parametrize("kind", [
    pytest.param("device", marks=pytest.mark.skipif(
        not os.path.exists("/dev/zero"), reason="no /dev/zero here")),
    pytest.param("fifo", marks=pytest.mark.skipif(
        not hasattr(os, "mkfifo"), reason="no FIFOs here"))])
def test_load_refuses_what_is_not_a_regular_file(tmp_path, kind):
    if kind == "device":
        path = "/dev/zero"
    else:
        path = str(tmp_path / "fifo.npz")
        os.mkfifo(path)
        # a writer end, so that opening for reading does not block
        fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)
    try:
        t0 = time.perf_counter()
        with pytest.raises(ValueError, match="not a regular file"):
            jm.load(path)
        assert time.perf_counter() - t0 < 1.0
    finally:
        if kind == "fifo":
            os.close(fd)


@pytest.mark.parametrize("kw", [dict(dropout=0.25, loss="huber",
                                     huber_delta=0.5),
                                dict(dropout=[0.5, 0.0], loss="poisson"),
                                dict(loss="binary_cross_entropy")])
def test_new_config_entries_round_trip(tmp_path, kw):
    m = jm.MLP([3, 4, 4, 2], seed=1, **kw)
    m2 = jm.load(m.save(tmp_path / "m"))
    assert_same(m, m2)
    X = np.random.default_rng(0).standard_normal((5, 3))
    y = (X[:, :2] > 0).astype(float)
    m.train(), m2.train()
    assert m.loss(X, y) == m2.loss(X, y)   # same seed: same dropout masks


def test_files_without_the_new_keys_load_with_defaults(tmp_path):
    """Files written before dropout and huber_delta existed."""
    m = small()
    meta, params, stats = read_members(m.save(tmp_path / "m"))
    for k in ("dropout", "huber_delta"):
        del meta["config"][k]
    p = write_model_file(tmp_path / "old.npz", meta, params, stats)
    m2 = jm.load(p)
    assert m2.get_config()["dropout"] == 0.0
    assert m2.get_config()["huber_delta"] == 1.0
    assert_same(m, m2)
