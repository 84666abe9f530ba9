"""One registry per concept: activations, losses, normalisations.

Each entry keeps together what the rest of the package needs to know about a
name: its integer code for the kernels (:mod:`jitmlp.kernels.consts`), the
aliases users may type (scikit-learn's ``"logistic"`` for the sigmoid), a
plain-numpy reference of its formula, and, for losses, the task kind, how
targets are encoded and how raw outputs ``h`` become predictions.  The model,
the trainer, the estimators, input validation and the tests read these
tables; nothing else compares names.

Adding an activation: a code in ``kernels/consts.py``, its branch in
``kernels/activations.py::phi_and_dphi``, an entry here (the tests then cover
it: finite differences, numpy reference, ONNX/torch export where those
tables have it).  Adding a loss: a code, a branch in
``kernels/losses.py::loss_and_delta``, an entry here.
"""
from dataclasses import dataclass, field
from math import erf, sqrt

import numpy as np

from .kernels import consts as C


# --------------------------------------------------------------- numpy side
def sigmoid(t):
    """The stable logistic function ``1 / (1 + exp(-t))``: never
    exponentiates a positive number.

    Parameters
    ----------
    t : array_like of float

    Returns
    -------
    ndarray
        The shape of ``t``; its dtype for float input, else float64.

    Examples
    --------
    >>> import numpy as np
    >>> from jitmlp.registry import sigmoid
    >>> sigmoid(np.array([-1000.0, 0.0, 1000.0])).tolist()   # no overflow
    [0.0, 0.5, 1.0]
    """
    t = np.asarray(t)
    e = np.exp(-np.abs(t))
    return np.where(t >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(
        t.dtype if t.dtype.kind == "f" else np.float64, copy=False)


def softplus(t):
    """``log(1 + exp(t))`` without overflow: ``max(t, 0) + log1p(exp(-|t|))``.

    Parameters
    ----------
    t : array_like of float

    Returns
    -------
    ndarray
        The shape of ``t``.

    Examples
    --------
    >>> import numpy as np
    >>> from jitmlp.registry import softplus
    >>> softplus(np.array([-1000.0, 0.0, 1000.0])).round(4).tolist()
    [0.0, 0.6931, 1000.0]
    """
    t = np.asarray(t)
    return np.maximum(t, 0) + np.log1p(np.exp(-np.abs(t)))


_erf = np.vectorize(erf, otypes=[np.float64])


def _gelu(a):
    return a * 0.5 * (1.0 + _erf(a / sqrt(2.0)))


def _dgelu(a):
    return 0.5 * (1.0 + _erf(a / sqrt(2.0))) + a * np.exp(-0.5 * a * a) \
        / sqrt(2.0 * np.pi)


@dataclass(frozen=True)
class Activation:
    """phi of the hidden layers, with its derivative (numpy references).

    Parameters
    ----------
    name : str
        The name :class:`~jitmlp.MLP` takes (``activation=name``).
    code : int
        Its ``ACT_*`` code in :mod:`jitmlp.kernels.consts`.
    phi, dphi : callable
        ``phi(a)`` and ``phi'(a)`` elementwise, numpy.
    aliases : tuple of str
        Other names accepted (``"logistic"`` for the sigmoid).
    formula : str
        ``phi(a)`` as documented.

    Examples
    --------
    >>> import numpy as np
    >>> from jitmlp import registry
    >>> act = registry.ACTIVATIONS["relu"]
    >>> act.formula, act.phi(np.array([-1.0, 2.0])).tolist()
    ('max(a, 0)', [0.0, 2.0])
    """
    name: str
    code: int
    phi: object
    dphi: object
    aliases: tuple = ()
    formula: str = ""


ACTIVATIONS = {a.name: a for a in (
    Activation("identity", C.ACT_IDENTITY, lambda a: a,
               lambda a: np.ones_like(a), formula="a"),
    Activation("relu", C.ACT_RELU, lambda a: np.maximum(a, 0),
               lambda a: (a > 0).astype(np.float64), formula="max(a, 0)"),
    Activation("leaky_relu", C.ACT_LEAKY_RELU,
               lambda a: np.where(a > 0, a, C.LEAKY_SLOPE * a),
               lambda a: np.where(a > 0, 1.0, C.LEAKY_SLOPE),
               formula="a if a > 0 else 0.01 a"),
    Activation("tanh", C.ACT_TANH, np.tanh, lambda a: 1 - np.tanh(a) ** 2,
               formula="tanh(a)"),
    Activation("sigmoid", C.ACT_SIGMOID, sigmoid,
               lambda a: sigmoid(a) * (1 - sigmoid(a)), aliases=("logistic",),
               formula="1 / (1 + exp(-a))"),
    Activation("gelu", C.ACT_GELU, _gelu, _dgelu,
               formula="a Phi(a) (exact erf form, PyTorch's default)"),
    Activation("elu", C.ACT_ELU,
               lambda a: np.where(a > 0, a, np.expm1(np.minimum(a, 0))),
               lambda a: np.where(a > 0, 1.0, np.exp(np.minimum(a, 0))),
               formula="a if a > 0 else exp(a) - 1"),
    Activation("silu", C.ACT_SILU, lambda a: a * sigmoid(a),
               lambda a: sigmoid(a) * (1 + a * (1 - sigmoid(a))),
               formula="a sigmoid(a)"),
    Activation("softplus", C.ACT_SOFTPLUS, softplus, sigmoid,
               formula="log(1 + exp(a)), stable"),
)}


@dataclass(frozen=True)
class Norm:
    """Normalisation of every hidden pre-activation before phi.

    Parameters
    ----------
    name : {None, "batch", "layer"}
    code : int
        Its ``NORM_*`` code in :mod:`jitmlp.kernels.consts`.
    running_stats : bool
        Keeps ``running_mean`` / ``running_var`` (BatchNorm).
    drops_bias : bool
        The hidden layers carry no bias ``b`` (BatchNorm's beta replaces it).

    Examples
    --------
    >>> from jitmlp import registry
    >>> [(n.name, n.running_stats, n.drops_bias) for n in registry.NORMS.values()]
    [(None, False, False), ('batch', True, True), ('layer', False, False)]
    """
    name: object          # None, "batch" or "layer"
    code: int
    running_stats: bool   # keeps running_mean / running_var
    drops_bias: bool      # the hidden layers carry no bias b


NORMS = {n.name: n for n in (
    Norm(None, C.NORM_NONE, False, False),
    Norm("batch", C.NORM_BATCH, True, True),
    Norm("layer", C.NORM_LAYER, False, False),
)}


# ------------------------------------------------------------------ losses
def _argmax(h):
    return np.argmax(h, axis=1)


def _softmax(h):
    e = np.exp(h - h.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _sign_labels(h):
    return np.where(h[:, 0] >= 0, 1, -1).astype(np.int64)


def _two_columns(h):
    p = sigmoid(h[:, 0])
    return np.stack([1 - p, p], axis=1).astype(h.dtype)


def _raw(h):
    return h[:, 0] if h.shape[1] == 1 else h


def _logsumexp(h):
    mx = h.max(axis=1, keepdims=True)
    return (mx + np.log(np.exp(h - mx).sum(axis=1, keepdims=True)))[:, 0]


@dataclass(frozen=True)
class Loss:
    """A loss: the per-sample value (numpy reference), what targets it takes
    and how raw outputs ``h`` become predictions.

    Parameters
    ----------
    name : str
        The name :class:`~jitmlp.MLP` takes (``loss=name``).
    code : int
        Its ``LOSS_*`` code in :mod:`jitmlp.kernels.consts`.
    task : {"regression", "binary", "multiclass", "multilabel"}
    target : {"values", "nonneg", "indicator", "sign", "class"}
        How ``y`` is checked and encoded for the kernels: "values" (real,
        one column per output), "nonneg" (real >= 0, one column per
        output), "indicator" (0/1, one column per output), "sign" (-1/+1,
        one column) or "class" (integer index in [0, out), one column).
    min_outputs : int
        The fewest output units the loss works with.
    max_outputs : int or None
        The most (None: no limit).
    value, delta : callable
        ``value(h, y2d)``: the per-sample loss, shape (n,);
        ``delta(h, y2d)``: its gradient with respect to ``h``, shape
        (n, out); numpy references, ``y2d`` the encoded targets (n, y_cols).
        Both take the Huber delta as a keyword ``hd`` when ``takes_delta``.
    predict : callable
        ``h -> predictions`` (what :meth:`MLP.predict` returns).
    proba : callable or None
        ``h -> probabilities`` (:meth:`MLP.predict_proba`), or None.
    aliases : tuple of str
        Other names accepted.
    formula : str
        The per-sample loss as documented.
    takes_delta : bool
        ``value`` and ``delta`` take the keyword ``hd`` (huber).

    Examples
    --------
    >>> import numpy as np
    >>> from jitmlp import registry
    >>> ce = registry.loss("cross_entropy")
    >>> ce.task, ce.target, ce.formula
    ('multiclass', 'class', 'logsumexp(h) - h_y, y a class index')
    >>> h, y = np.array([[0.0, 0.0]]), np.array([[1]])
    >>> ce.value(h, y).round(4).tolist(), ce.predict(np.array([[0.1, 0.3]])).tolist()
    ([0.6931], [1])
    """
    name: str
    code: int
    task: str
    target: str
    min_outputs: int
    max_outputs: object       # int or None
    value: object             # (h, y2d) -> per-sample loss, numpy
    delta: object             # (h, y2d) -> dloss/dh per sample, numpy
    predict: object           # h -> predictions
    proba: object = None      # h -> probabilities, or None
    aliases: tuple = field(default=())
    formula: str = ""         # the per-sample loss, as documented
    takes_delta: bool = False  # value/delta take the keyword hd (huber)

    @property
    def classify(self):
        """bool: a classification loss (any task but "regression"), scored
        by accuracy rather than R^2.

        Examples
        --------
        >>> from jitmlp import registry
        >>> registry.loss("logistic").classify, registry.loss("huber").classify
        (True, False)
        """
        return self.task != "regression"

    def y_cols(self, n_outputs):
        """Columns of the target array the kernels receive.

        Parameters
        ----------
        n_outputs : int
            Output units of the network.

        Returns
        -------
        int
            ``n_outputs`` for targets with one column per output, else 1
            (class indices, -1/+1 labels).

        Examples
        --------
        >>> from jitmlp import registry
        >>> registry.loss("squared").y_cols(3), registry.loss("cross_entropy").y_cols(3)
        (3, 1)
        """
        return n_outputs if self.target in ("values", "nonneg",
                                            "indicator") else 1


def _huber_value(h, y, hd=1.0):
    r = h - y
    a = np.abs(r)
    return np.where(a <= hd, 0.5 * r * r, hd * (a - 0.5 * hd)).sum(axis=1)


def _huber_delta(h, y, hd=1.0):
    return np.clip(h - y, -hd, hd)


def _exp_raw(h):
    return _raw(np.exp(h))


def _indicator(h):
    return (h > 0).astype(np.int64)


def _ce_value(h, y):
    c = y[:, 0].astype(np.int64)
    return _logsumexp(h) - h[np.arange(len(h)), c]


def _ce_delta(h, y):
    d = _softmax(h)
    d[np.arange(len(h)), y[:, 0].astype(np.int64)] -= 1
    return d


LOSSES = {l.name: l for l in (
    Loss("squared", C.LOSS_SQUARED, "regression", "values", 1, None,
         value=lambda h, y: 0.5 * ((h - y) ** 2).sum(axis=1),
         delta=lambda h, y: h - y, predict=_raw,
         formula="0.5 ||y - h||^2"),
    Loss("logistic", C.LOSS_LOGISTIC, "binary", "sign", 1, 1,
         value=lambda h, y: softplus(-y[:, 0] * h[:, 0]),
         delta=lambda h, y: (-y[:, 0] * sigmoid(-y[:, 0] * h[:, 0]))[:, None],
         predict=_sign_labels, proba=_two_columns,
         formula="log(1 + exp(-y h)), y in {-1, +1}, stable"),
    Loss("cross_entropy", C.LOSS_CROSS_ENTROPY, "multiclass", "class", 2,
         None, value=_ce_value, delta=_ce_delta, predict=_argmax,
         proba=_softmax, formula="logsumexp(h) - h_y, y a class index"),
    Loss("huber", C.LOSS_HUBER, "regression", "values", 1, None,
         value=_huber_value, delta=_huber_delta, predict=_raw,
         takes_delta=True,
         formula="sum of 0.5 r^2 (|r| <= delta) else delta (|r| - delta/2)"),
    # h is the log-rate: PyTorch's PoissonNLLLoss(log_input=True,
    # full=False); exp(h) overflows for h > ~709 (float64), ~88 (float32):
    # the loss is then inf, reported as a divergence / non-finite output
    Loss("poisson", C.LOSS_POISSON, "regression", "nonneg", 1, None,
         value=lambda h, y: (np.exp(h) - y * h).sum(axis=1),
         delta=lambda h, y: np.exp(h) - y, predict=_exp_raw,
         formula="sum of exp(h) - y h, h the log-rate"),
    Loss("binary_cross_entropy", C.LOSS_BCE, "multilabel", "indicator", 1,
         None, value=lambda h, y: (softplus(h) - y * h).sum(axis=1),
         delta=lambda h, y: sigmoid(h) - y, predict=_indicator,
         proba=lambda h: sigmoid(h).astype(h.dtype, copy=False),
         formula="sum of log(1 + exp(h)) - y h, y in {0, 1}"),
)}


def _lookup(table, kind, name):
    if isinstance(name, (str, type(None))):
        if name in table:
            return table[name]
        for entry in table.values():
            if name in getattr(entry, "aliases", ()):
                return entry
    names = ", ".join(repr(k) for k in table)
    raise ValueError(f"{kind} must be one of {names}; got {name!r}")


def activation(name):
    """The :class:`Activation` of ``name`` or one of its aliases.

    Parameters
    ----------
    name : str
        A key of ``ACTIVATIONS`` or an alias (``"logistic"``).

    Returns
    -------
    Activation

    Raises
    ------
    ValueError
        An unknown name; the message lists the known ones.

    Examples
    --------
    >>> from jitmlp import registry
    >>> registry.activation("logistic").name
    'sigmoid'
    >>> registry.activation("swish")
    Traceback (most recent call last):
        ...
    ValueError: activation must be one of 'identity', 'relu', ...; got 'swish'
    """
    return _lookup(ACTIVATIONS, "activation", name)


def loss(name):
    """The :class:`Loss` of ``name``.

    Parameters
    ----------
    name : str
        A key of ``LOSSES``.

    Returns
    -------
    Loss

    Raises
    ------
    ValueError
        An unknown name; the message lists the known ones.

    Examples
    --------
    >>> from jitmlp import registry
    >>> registry.loss("poisson").formula
    'sum of exp(h) - y h, h the log-rate'
    """
    return _lookup(LOSSES, "loss", name)


def norm(name):
    """The :class:`Norm` of ``name`` (None, "batch", "layer").

    Parameters
    ----------
    name : {None, "batch", "layer"}

    Returns
    -------
    Norm

    Raises
    ------
    ValueError
        Another name.

    Examples
    --------
    >>> from jitmlp import registry
    >>> registry.norm("batch").running_stats, registry.norm(None).code
    (True, 0)
    """
    return _lookup(NORMS, "norm", name)
