"""Export to ONNX: the network in evaluation mode as an ONNX graph.

Imported only by :meth:`jitmlp.MLP.to_onnx` and the estimators' ``to_onnx``,
so that ``onnx`` stays an optional dependency (``pip install "jitmlp[onnx]"``).

The graph is a transcription of :meth:`jitmlp.MLP.preactivations` in
evaluation mode, node for node in the order the kernels compute:

    z = x @ W (+ b)                               MatMul, Add
    BatchNorm: a = gamma * ((z - running_mean) * rstd) + beta,
               rstd = 1 / sqrt(running_var + eps)  (a constant)
    LayerNorm: a = LayerNormalization(z, gamma, beta, eps)  (opset 17)
    x' = phi(a)  (+ x when residual and the widths match)
    h = x @ W_out + b_out

Activations are a name-keyed table (:data:`ACTIVATION_NODES`) of functions
``build(graph, x) -> y`` that append the nodes of ``phi``; a network whose
activation has no entry raises :class:`NotImplementedError` naming it.

ONNX attributes are float32, so float64 graphs pass slopes as tensors (a
LeakyRelu ``alpha=0.01`` attribute is 0.0099999998).  onnxruntime (1.32)
has no float64 kernel for ``Erf``, ``Elu`` and
``Softplus``, so the float64 graphs write GELU's erf as the series
``erf(t) = 2/sqrt(pi) exp(-t^2) t sum_n (2t^2)^n / (1*3*...*(2n+1))``
(Abramowitz & Stegun 7.1.6: positive terms, no cancellation), 100 terms in
Horner form with ``|t|`` clipped at 6 (erf rounds to +-1 in float64 from
5.95 on); measured against ``math.erf`` on [-6, 6]: max error 1.6e-15.
ELU and softplus are written with primitive ops in both dtypes.
"""
import math

import numpy as np

OPSET = 17              # LayerNormalization is opset 17
INSTALL_HINT = 'pip install onnx onnxruntime (the "onnx" extra)'


def require_onnx():
    """The ``onnx`` module, or an ImportError saying how to install it."""
    try:
        import onnx
    except ImportError as exc:
        raise ImportError(f"exporting to ONNX needs the onnx package: "
                          f"{INSTALL_HINT}") from exc
    return onnx


class _Graph:
    """Nodes and initializers of one graph, with fresh names for values."""

    def __init__(self, onnx, dtype):
        self.onnx = onnx
        self.dtype = np.dtype(dtype)
        self.elem = onnx.helper.np_dtype_to_tensor_dtype(self.dtype)
        self.nodes = []
        self.inits = []
        self._n = 0
        self._consts = {}

    def fresh(self, stem):
        self._n += 1
        return f"{stem}_{self._n}"

    def const(self, name, value, dtype=None):
        """An initializer holding ``value`` (in the model's dtype unless
        ``dtype`` says otherwise); scalars are shared by value."""
        arr = np.asarray(value, dtype=self.dtype if dtype is None else dtype)
        if name is None:
            key = (arr.dtype.str, arr.shape, arr.tobytes())
            if key in self._consts:
                return self._consts[key]
            name = self.fresh("c")
            self._consts[key] = name
        self.inits.append(self.onnx.numpy_helper.from_array(arr, name))
        return name

    def node(self, op, inputs, out=None, **attrs):
        out = out or self.fresh(op.lower())
        self.nodes.append(self.onnx.helper.make_node(op, list(inputs), [out],
                                                     **attrs))
        return out

    def scalar(self, v):
        return self.const(None, v)


# ----------------------------------------------------------- activations
def _gelu(g, x):
    # phi(a) = a * 0.5 * (1 + erf(a / sqrt 2)), the kernel's order
    t = g.node("Mul", [x, g.scalar(1.0 / math.sqrt(2.0))])
    e = g.node("Erf", [t]) if g.dtype == np.float32 else _erf_series(g, t)
    c = g.node("Mul", [g.scalar(0.5), g.node("Add", [g.scalar(1.0), e])])
    return g.node("Mul", [x, c])


_ERF_TERMS = 100
_ERF_CLIP = 6.0


def _erf_series(g, t):
    """erf(t) from primitive ops (see the module docstring)."""
    t = g.node("Clip", [t, g.scalar(-_ERF_CLIP), g.scalar(_ERF_CLIP)])
    t2 = g.node("Mul", [t, t])
    # the series in s = 2 t^2 / 128 (an exact scaling) has coefficients
    # b_n = 128^n / (1 * 3 * ... * (2n+1)) in [1, 4e25]; unscaled they fall
    # to 1e-187, and onnxruntime's optimizer drops an Add of a constant that
    # is 0 in float32 (measured: erf(5) off by 0.08)
    s = g.node("Mul", [g.scalar(2.0 / 128.0), t2])
    b = [1.0]
    for n in range(1, _ERF_TERMS + 1):
        b.append(b[-1] * 128.0 / (2 * n + 1))
    p = g.scalar(b[-1])
    for n in range(_ERF_TERMS - 1, -1, -1):
        p = g.node("Add", [g.node("Mul", [p, s]), g.scalar(b[n])])
    e = g.node("Exp", [g.node("Neg", [t2])])
    y = g.node("Mul", [g.node("Mul", [e, t]), p])
    return g.node("Mul", [g.scalar(2.0 / math.sqrt(math.pi)), y])


def _elu(g, x):
    if g.dtype == np.float32:
        return g.node("Elu", [x], alpha=1.0)
    # exp(min(a, 0)) - 1 where a <= 0, as the kernel (exp(a) - 1)
    neg = g.node("Sub", [g.node("Exp", [g.node("Min", [x, g.scalar(0.0)])]),
                         g.scalar(1.0)])
    return g.node("Where", [g.node("Greater", [x, g.scalar(0.0)]), x, neg])


def _leaky_relu(g, x):
    if g.dtype == np.float32:
        return g.node("LeakyRelu", [x], alpha=0.01)
    # ONNX attributes are float32: alpha=0.01 would be 0.0099999998 here
    return g.node("Where", [g.node("Greater", [x, g.scalar(0.0)]), x,
                            g.node("Mul", [x, g.scalar(0.01)])])


def _softplus(g, x):
    # stable: max(a, 0) + log(1 + exp(-|a|))
    e = g.node("Exp", [g.node("Neg", [g.node("Abs", [x])])])
    return g.node("Add", [g.node("Relu", [x]),
                          g.node("Log", [g.node("Add", [g.scalar(1.0), e])])])


def _silu(g, x):
    return g.node("Mul", [x, g.node("Sigmoid", [x])])


ACTIVATION_NODES = {
    "identity": lambda g, x: g.node("Identity", [x]),
    "relu": lambda g, x: g.node("Relu", [x]),
    "leaky_relu": _leaky_relu,
    "tanh": lambda g, x: g.node("Tanh", [x]),
    "sigmoid": lambda g, x: g.node("Sigmoid", [x]),
    "logistic": lambda g, x: g.node("Sigmoid", [x]),
    "gelu": _gelu,
    "elu": _elu,
    "silu": _silu,
    "softplus": _softplus,
}


def activation_builder(name):
    try:
        return ACTIVATION_NODES[name]
    except KeyError:
        raise NotImplementedError(
            f"ONNX export of the activation {name!r} is not implemented "
            f"(exportable: {', '.join(sorted(ACTIVATION_NODES))})") from None


# ----------------------------------------------------------- the network
def _network(g, model, x):
    """Append the evaluation-mode forward of ``model`` to ``g``; returns the
    name of h."""
    sd = model.state_dict()
    phi = activation_builder(model.activation)
    eps = model.norm_eps
    L = len(model.sizes) - 1
    for l in range(L - 1):
        p = f"hidden.{l}"
        z = g.node("MatMul", [x, g.const(p + ".W", sd[p + ".W"])])
        if p + ".b" in sd:
            z = g.node("Add", [z, g.const(p + ".b", sd[p + ".b"])])
        if model.norm == "batch":
            rvar = sd[p + ".running_var"].astype(np.float64)
            # the kernel's 1/sqrt(var + eps), computed in float64 then cast
            rstd = (1.0 / np.sqrt(rvar + eps)).astype(model.dtype)
            t = g.node("Sub", [z, g.const(p + ".running_mean",
                                          sd[p + ".running_mean"])])
            t = g.node("Mul", [t, g.const(p + ".rstd", rstd)])
            t = g.node("Mul", [g.const(p + ".gamma", sd[p + ".gamma"]), t])
            z = g.node("Add", [t, g.const(p + ".beta", sd[p + ".beta"])])
        elif model.norm == "layer":
            z = g.node("LayerNormalization",
                       [z, g.const(p + ".gamma", sd[p + ".gamma"]),
                        g.const(p + ".beta", sd[p + ".beta"])],
                       axis=-1, epsilon=float(eps))
        y = phi(g, z)
        if model.residual and model.sizes[l] == model.sizes[l + 1]:
            y = g.node("Add", [y, x])
        x = y
    h = g.node("MatMul", [x, g.const("out.W", sd["out.W"])])
    return g.node("Add", [h, g.const("out.b", sd["out.b"])], out="h")


def _check_finite(model):
    for name, arr in model.state_dict().items():
        if not np.isfinite(arr).all():
            raise ValueError(f"cannot export to ONNX: {name} contains NaN or "
                             f"infinite values")


def build(model, *, classes=None, regressor=False, doc=""):
    """The ``onnx.ModelProto`` of ``model`` in evaluation mode.

    ``classes`` (an array of labels) adds the outputs "label" (``classes[
    argmax(probabilities)]``) and "probabilities" (softmax of h) of a
    classifier; ``regressor`` adds "variable" (h).  Checked with
    ``onnx.checker.check_model``.
    """
    onnx = require_onnx()
    from onnx import helper
    _check_finite(model)
    g = _Graph(onnx, model.dtype)
    d, out = model.sizes[0], model.sizes[-1]
    h = _network(g, model, "X")
    outputs = [helper.make_tensor_value_info("h", g.elem, ["batch", out])]
    if classes is not None:
        proba = g.node("Softmax", [h], out="probabilities", axis=1)
        idx = g.node("ArgMax", [proba], axis=1, keepdims=0)
        table, elem = _label_table(classes)
        g.node("Gather", [g.const("classes", table, dtype=table.dtype), idx],
               out="label", axis=0)
        outputs = [helper.make_tensor_value_info("label", elem, ["batch"]),
                   helper.make_tensor_value_info("probabilities", g.elem,
                                                 ["batch", out])] + outputs
    elif regressor:
        g.node("Identity", [h], out="variable")
        outputs = [helper.make_tensor_value_info("variable", g.elem,
                                                 ["batch", out])] + outputs
    graph = helper.make_graph(
        g.nodes, "jitmlp", [helper.make_tensor_value_info("X", g.elem,
                                                          ["batch", d])],
        outputs, initializer=g.inits)
    proto = helper.make_model(graph, producer_name="jitmlp",
                              opset_imports=[helper.make_opsetid("", OPSET)],
                              doc_string=doc or repr(model))
    from . import __version__
    proto.producer_version = __version__
    proto.ir_version = min(proto.ir_version, 8)  # readable by onnxruntime >= 1.14
    onnx.checker.check_model(proto)
    return proto


def _label_table(classes):
    """classes_ as an ONNX-storable array and its tensor element type:
    integers -> int64, floats -> float64, bools -> bool, text -> string."""
    from onnx import TensorProto
    c = np.asarray(classes)
    if c.dtype == object:
        if all(isinstance(v, str) for v in c):
            c = c.astype(str)
        else:
            c = np.asarray(c.tolist())
    if c.dtype.kind in "iu":
        if c.dtype.kind == "u" and c.size and c.max() > np.iinfo(np.int64).max:
            raise NotImplementedError("class labels above 2**63-1 cannot be "
                                      "stored as ONNX int64")
        return c.astype(np.int64), TensorProto.INT64
    if c.dtype.kind == "f":
        return c.astype(np.float64), TensorProto.DOUBLE
    if c.dtype.kind == "b":
        return c.astype(bool), TensorProto.BOOL
    if c.dtype.kind in "US":
        return c.astype(object), TensorProto.STRING
    raise NotImplementedError(f"class labels of dtype {c.dtype} cannot be "
                              f"exported to ONNX (integers, floats, bools "
                              f"and strings can)")


def save(model, path, **kw):
    """Build the graph and write it to ``path`` atomically; returns the
    ModelProto."""
    from ._io import atomic_write
    proto = build(model, **kw)
    data = proto.SerializeToString()
    atomic_write(path, lambda f: f.write(data))
    return proto
