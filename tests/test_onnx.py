"""ONNX export (jitmlp._onnx): onnxruntime's outputs equal the model's."""
import os

import numpy as np
import pytest

import jitmlp as jm
from jitmlp import _onnx
from jitmlp import _validation as V

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

# every activation the model takes and the exporter knows (silu and softplus
# join when the activation registry lands)
ACTS = list(V.ACTIVATIONS)   # every registry entry must export
RTOL = {"float32": 1e-5, "float64": 1e-10}


def _session(proto):
    return ort.InferenceSession(proto.SerializeToString(),
                                providers=["CPUExecutionProvider"])


def _trained(act, norm, residual, dtype, seed=0):
    """A small model whose BatchNorm running statistics, gamma and beta are
    away from their initial 0/1 (a few training steps, then random gamma,
    beta)."""
    rng = np.random.default_rng(seed)
    model = jm.MLP([5, 8, 8, 3], activation=act, norm=norm, residual=residual,
                   dtype=dtype, seed=seed)
    X = rng.normal(1.0, 1.5, (64, 5))
    Y = rng.normal(size=(64, 3))
    tr = jm.Trainer(model, jm.SGD(lr=0.01), batch_size=16, seed=0)
    for i in range(4):
        tr.step(X[16 * i:16 * i + 16], Y[16 * i:16 * i + 16])
    sd = model.state_dict()
    for k, v in sd.items():
        if k.endswith((".gamma", ".beta")):
            v[...] = rng.uniform(0.5, 1.5, v.shape) * rng.choice([-1, 1],
                                                                 v.shape)
    if norm == "batch":
        rm = sd["hidden.0.running_mean"]
        rv = sd["hidden.0.running_var"]
        assert np.abs(rm).max() > 0.05 and np.abs(rv - 1).max() > 0.05
    model.train()  # the export is in evaluation mode whatever the mode
    return model, rng.normal(1.0, 2.0, (37, 5)).astype(dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("residual", [False, True])
@pytest.mark.parametrize("norm", [None, "batch", "layer"])
@pytest.mark.parametrize("act", ACTS)
def test_onnx_matches_forward(act, norm, residual, dtype):
    model, X = _trained(act, norm, residual, dtype)
    proto = model.to_onnx()
    assert model.training  # exporting changes nothing
    h_onnx, = _session(proto).run(["h"], {"X": X})
    h = model.eval().forward(X)
    assert h_onnx.dtype == h.dtype and h_onnx.shape == h.shape
    np.testing.assert_allclose(h_onnx, h, rtol=RTOL[dtype],
                               atol=RTOL[dtype] * np.abs(h).max())  # near-zero outputs


def test_onnx_gelu_float64_series_matches_erf():
    # the float64 erf series over the whole range, including the clip
    import math
    g = _onnx._Graph(onnx, np.float64)
    t = _onnx._erf_series(g, "t")
    g.node("Identity", [t], out="y")
    T = onnx.TensorProto.DOUBLE
    graph = onnx.helper.make_graph(
        g.nodes, "erf", [onnx.helper.make_tensor_value_info("t", T, [None])],
        [onnx.helper.make_tensor_value_info("y", T, [None])],
        initializer=g.inits)
    proto = onnx.helper.make_model(
        graph, opset_imports=[onnx.helper.make_opsetid("", _onnx.OPSET)])
    x = np.concatenate([np.linspace(-9, 9, 20001), [0.0, 1e-300, -1e-12]])
    y, = _session(proto).run(["y"], {"t": x})
    ref = np.array([math.erf(v) for v in x])
    assert np.abs(y - ref).max() < 4e-15


def test_onnx_file_checker_and_atomic(tmp_path):
    model, X = _trained("relu", "batch", True, "float32")
    path = tmp_path / "m.onnx"
    path.write_bytes(b"old")
    proto = model.to_onnx(path)
    assert isinstance(proto, onnx.ModelProto)
    onnx.checker.check_model(str(path), full_check=True)
    loaded = onnx.load(str(path))
    assert [i.name for i in loaded.graph.input] == ["X"]
    assert [o.name for o in loaded.graph.output] == ["h"]
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    h, = sess.run(["h"], {"X": X})
    np.testing.assert_allclose(h, model.eval().forward(X), rtol=1e-5,
                               atol=1e-6)
    # a failing export leaves the old file whole and no temporary file
    path.write_bytes(b"old")
    bad = model.copy()
    bad.params.fill(0.0)
    bad._params[0] = np.inf  # bypass the guarded setter
    with pytest.raises(ValueError, match="hidden.0.W"):
        bad.to_onnx(path)
    assert path.read_bytes() == b"old"
    assert sorted(os.listdir(tmp_path)) == ["m.onnx"]


def test_onnx_write_interrupted_keeps_old_file(tmp_path, monkeypatch):
    from jitmlp import _io
    model, _ = _trained("tanh", None, False, "float64")
    path = tmp_path / "m.onnx"
    path.write_bytes(b"old")
    real = _io.atomic_write

    def boom(p, write_fn):
        def half(f):
            f.write(b"partial")
            raise KeyboardInterrupt
        return real(p, half)
    monkeypatch.setattr(_io, "atomic_write", boom)
    with pytest.raises(KeyboardInterrupt):
        model.to_onnx(path)
    assert path.read_bytes() == b"old"
    assert sorted(os.listdir(tmp_path)) == ["m.onnx"]


def test_onnx_unknown_activation_is_named(monkeypatch):
    model = jm.MLP([3, 4, 2], activation="tanh", seed=0)
    monkeypatch.delitem(_onnx.ACTIVATION_NODES, "tanh")
    with pytest.raises(NotImplementedError, match="'tanh'"):
        model.to_onnx()


def test_onnx_activation_table_covers_every_activation():
    assert set(V.ACTIVATIONS) <= set(_onnx.ACTIVATION_NODES)
    assert {"silu", "softplus"} <= set(_onnx.ACTIVATION_NODES)


@pytest.mark.parametrize("name", ["silu", "softplus"])
def test_onnx_silu_softplus_nodes(name):
    # the entries ready for the activation registry, against numpy
    g = _onnx._Graph(onnx, np.float64)
    y = _onnx.ACTIVATION_NODES[name](g, "a")
    g.node("Identity", [y], out="y")
    T = onnx.TensorProto.DOUBLE
    graph = onnx.helper.make_graph(
        g.nodes, name, [onnx.helper.make_tensor_value_info("a", T, [None])],
        [onnx.helper.make_tensor_value_info("y", T, [None])],
        initializer=g.inits)
    proto = onnx.helper.make_model(
        graph, opset_imports=[onnx.helper.make_opsetid("", _onnx.OPSET)])
    a = np.linspace(-800, 800, 4001)
    y, = _session(proto).run(["y"], {"a": a})
    if name == "silu":
        ref = a / (1 + np.exp(-np.clip(a, -700, 700)))
    else:
        ref = np.logaddexp(0.0, a)
    # onnxruntime's float64 Exp and Sigmoid return 0 below ~exp(-37): an
    # absolute error of at most 37 * 8.5e-17
    np.testing.assert_allclose(y, ref, rtol=1e-12, atol=4e-15)


def test_onnx_missing_package_message(monkeypatch):
    import builtins
    real = builtins.__import__

    def no_onnx(name, *a, **kw):
        if name == "onnx" or name.startswith("onnx."):
            raise ImportError("No module named 'onnx'")
        return real(name, *a, **kw)
    monkeypatch.setattr(builtins, "__import__", no_onnx)
    with pytest.raises(ImportError, match="pip install onnx onnxruntime"):
        jm.MLP([2, 1], seed=0).to_onnx()


# ------------------------------------------------------------ estimators
sklearn = pytest.importorskip("sklearn")


@pytest.mark.parametrize("labels", ["int", "str", "float"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_classifier_onnx_label_and_probabilities(labels, dtype, tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    y = (X[:, 0] + X[:, 1] ** 2 > 1).astype(int) + (X[:, 2] > 0.5)
    y = {"int": np.array([3, 7, 11])[y],
         "str": np.array(["cat", "dog", "emu"])[y],
         "float": np.array([-1.0, 0.0, 2.0])[y]}[labels]
    clf = jm.MLPClassifier((16,), norm="batch", max_iter=20, dtype=dtype,
                           random_state=0).fit(X, y)
    clf.to_onnx(tmp_path / "c.onnx")
    sess = ort.InferenceSession(str(tmp_path / "c.onnx"),
                                providers=["CPUExecutionProvider"])
    assert [o.name for o in sess.get_outputs()] == ["label", "probabilities",
                                                    "h"]
    lab, proba, _ = sess.run(None, {"X": X.astype(dtype)})
    np.testing.assert_array_equal(lab, clf.predict(X))
    np.testing.assert_allclose(proba, clf.predict_proba(X), rtol=RTOL[dtype],
                               atol=RTOL[dtype] * 1e-2)


def test_regressor_onnx_variable():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 3))
    y = np.sin(X).sum(1)
    reg = jm.MLPRegressor((8, 8), norm="layer", residual=True, max_iter=10,
                          random_state=0).fit(X, y)
    proto = reg.to_onnx()
    v, = _session(proto).run(["variable"], {"X": X})
    np.testing.assert_allclose(v[:, 0], reg.predict(X), rtol=1e-10)


def test_estimator_to_onnx_unfitted():
    from sklearn.exceptions import NotFittedError
    with pytest.raises(NotFittedError):
        jm.MLPClassifier().to_onnx()


@pytest.mark.parametrize("loss", ["huber", "poisson", "binary_cross_entropy"])
def test_onnx_of_dropout_and_new_losses_is_the_evaluation_forward(loss):
    """h is exported whatever the loss; dropout is the identity there."""
    model = jm.MLP([5, 8, 8, 3], loss=loss, dropout=[0.5, 0.2],
                   residual=True, seed=0)
    X = np.random.default_rng(0).normal(size=(9, 5))
    h_onnx, = _session(model.to_onnx()).run(["h"], {"X": X})
    np.testing.assert_allclose(h_onnx, model.eval().forward(X), rtol=1e-10,
                               atol=1e-12)
