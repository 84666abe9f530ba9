"""Optimizers: hyper-parameters plus state in flat buffers of the params layout.

Each update is one fused pass of :func:`jitmlp.kernels.apply_update` over
the whole flat buffer (PyTorch's formulas, written in each class docstring).
Weight decay touches the weight matrices W only, never b, gamma or beta.
"""
import numbers

import numba
import numpy as np

from . import _validation as V
from ._errors import DivergenceError
from .kernels import apply_update, undo_update
from .kernels import consts as C


class Optimizer:
    """Base class: holds hyper-parameters, the step count ``t`` and the
    moment buffers once bound to a model."""

    _code = C.OPT_SGD

    def __init__(self, lr, weight_decay):
        self.lr = V.real("lr", lr, low=0.0, low_open=True)
        self.weight_decay = V.real("weight_decay", weight_decay, low=0.0)
        self.t = 0
        self.m = None
        self.v = None
        self._bound = None

    # the float hyper-parameter vector of the kernels
    def _hp(self, model, clip=0.0):
        hp = np.zeros(C.N_HP, np.float64)
        hp[C.HP_WD] = self.weight_decay
        hp[C.HP_BN_MOMENTUM] = model.bn_momentum
        hp[C.HP_NORM_EPS] = model.norm_eps
        hp[C.HP_CLIP] = clip
        return hp

    def _needs(self):
        """(needs m, needs v) for this optimizer."""
        return False, False

    def bind(self, model):
        """Allocate (or check) the state buffers for ``model``'s layout.

        The kernels read ``m`` and ``v`` without bounds checks, so anything
        but 1-D writable C-contiguous buffers of the model's dtype and of the
        sizes this optimizer needs is refused (or, before the first step,
        replaced by fresh zeros).
        """
        # hyper-parameters and the step count are plain attributes a user may
        # set between fits: check them again before a kernel reads them
        type(self)(**self.get_config())
        if isinstance(self.t, bool) or not isinstance(self.t, numbers.Integral) \
                or self.t < 0:
            raise ValueError(f"optimizer.t must be an integer >= 0; got "
                             f"{self.t!r}")
        self.t = int(self.t)
        P = model.params.size
        need_m, need_v = self._needs()

        def fits(a, need):
            return (isinstance(a, np.ndarray) and a.ndim == 1
                    and a.dtype == model.dtype and a.flags.c_contiguous
                    and a.flags.writeable and a.size == (P if need else a.size)
                    and (need or a.size in (0, P)))
        if self.m is not None and not (fits(self.m, need_m)
                                       and fits(self.v, need_v)):
            if self.t > 0:
                raise ValueError("this optimizer holds state for another "
                                 "model (different size or dtype) or its "
                                 "m/v buffers were replaced; create a new "
                                 "optimizer or call reset()")
            self.m = None
        if self.m is None:
            self.m = np.zeros(P if need_m else 0, model.dtype)
            self.v = np.zeros(P if need_v else 0, model.dtype)
        self._bound = (P, model.dtype)

    def __setstate__(self, state):
        self.__dict__.update(state)
        for k in ("m", "v"):
            if self.__dict__.get(k) is not None:
                setattr(self, k, np.array(getattr(self, k), copy=True))

    def reset(self):
        """Forget the moments and the step count."""
        self.t = 0
        self.m = None
        self.v = None

    def step(self, model, grad, lr=None):
        """Apply one update to ``model.params`` from ``grad`` (same layout)."""
        grad = np.asarray(grad)
        if grad.shape != model.params.shape:
            raise ValueError(f"grad has shape {grad.shape}; expected "
                             f"{model.params.shape}")
        if grad.dtype.kind not in "iuf":
            raise TypeError(f"grad must be a real numeric array; got "
                            f"{grad.dtype}")
        # a copy: the update consumes its gradient buffer (it keeps the old
        # parameters there, to undo a non-finite step)
        grad = np.array(grad, dtype=model.dtype, order="C", copy=True)
        if not np.isfinite(grad).all():
            raise ValueError("grad contains NaN or infinite values")
        lr = self.lr if lr is None else V.real("lr", lr, low=0.0)
        self.bind(model)
        coef = np.zeros(16, model.dtype)
        bad = apply_update(model.params, grad, self.m, self.v,
                           model._layout.segments, self._code,
                           self._hp(model), lr, self.t + 1, 1.0, coef,
                           numba.get_num_threads())
        if bad:
            undo_update(model.params, grad, self.m, self.v)
            raise DivergenceError("the update made parameters non-finite; it "
                                  "was undone (the moments restart from "
                                  "zero)", None, self.t, None)
        self.t += 1

    def state_dict(self):
        """Hyper-parameters, step count and copies of the moment buffers."""
        return {"class": type(self).__name__, "hyper": self.get_config(),
                "t": self.t,
                "m": None if self.m is None else self.m.copy(),
                "v": None if self.v is None else self.v.copy()}

    def load_state_dict(self, state):
        """Restore what :meth:`state_dict` returned (resumes exactly).

        Raises
        ------
        ValueError, TypeError
            A missing, unexpected or malformed entry (checked before anything
            changes); sizes against a model are checked at the next step.
        """
        if not isinstance(state, dict):
            raise TypeError(f"optimizer state must be a dict; got "
                            f"{type(state).__name__}")
        need = ("class", "hyper", "t", "m", "v")
        missing = [k for k in need if k not in state]
        if missing:
            raise ValueError(f"optimizer state is missing {missing}")
        extra = sorted(set(state) - set(need))
        if extra:
            raise ValueError(f"optimizer state has unexpected entries {extra}")
        if state["class"] != type(self).__name__:
            raise ValueError(f"state is for {state['class']!r}, not "
                             f"{type(self).__name__}")
        if not isinstance(state["hyper"], dict):
            raise TypeError("optimizer state: 'hyper' must be a dict")
        fresh = type(self)(**state["hyper"])  # validates
        t = V.positive_int("optimizer state 't'", state["t"], minimum=0)
        moments = {}
        for k in ("m", "v"):
            a = state[k]
            if a is not None:
                a = np.asarray(a)
                if a.ndim != 1 or a.dtype.kind != "f":
                    raise ValueError(f"optimizer state: {k!r} must be a 1-D "
                                     f"float array; got shape {a.shape}, "
                                     f"dtype {a.dtype}")
                if not np.isfinite(a).all():
                    raise ValueError(f"optimizer state: {k!r} contains NaN "
                                     f"or infinite values")
                a = np.array(a, order="C", copy=True)
            moments[k] = a
        if (moments["m"] is None) != (moments["v"] is None):
            raise ValueError("optimizer state: 'm' and 'v' must both be "
                             "arrays or both None")
        self.__dict__.update({k: v for k, v in fresh.__dict__.items()
                              if k not in ("m", "v", "t", "_bound")})
        self.t = t
        self.m, self.v = moments["m"], moments["v"]

    def get_config(self):
        raise NotImplementedError

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum.

    ``g += wd * W``;  with momentum ``v = mu v + g`` (first step ``v = g``),
    then ``g = g + mu v`` (Nesterov) or ``g = v``;  ``p -= lr g``.

    Parameters
    ----------
    lr : float > 0
    momentum : float in [0, 1)
    nesterov : bool (needs momentum > 0)
    weight_decay : float >= 0, the L2 coefficient on W
    """

    _code = C.OPT_SGD

    def __init__(self, lr=0.01, momentum=0.0, nesterov=False,
                 weight_decay=0.0):
        super().__init__(lr, weight_decay)
        self.momentum = V.real("momentum", momentum, low=0.0, high=1.0,
                               high_open=True)
        if not isinstance(nesterov, (bool, np.bool_)):
            raise TypeError(f"nesterov must be a bool; got {nesterov!r}")
        if nesterov and self.momentum == 0.0:
            raise ValueError("nesterov=True needs momentum > 0")
        self.nesterov = bool(nesterov)

    def _needs(self):
        return False, self.momentum > 0

    def _hp(self, model, clip=0.0):
        hp = super()._hp(model, clip)
        hp[C.HP_MOMENTUM] = self.momentum
        hp[C.HP_NESTEROV] = float(self.nesterov)
        return hp

    def get_config(self):
        return dict(lr=self.lr, momentum=self.momentum,
                    nesterov=self.nesterov, weight_decay=self.weight_decay)


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015, Alg. 1) with L2 weight decay on W.

    ``g += wd W``;  ``m = b1 m + (1-b1) g``;  ``v = b2 v + (1-b2) g^2``;
    ``p -= lr (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)``.
    """

    _code = C.OPT_ADAM

    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
                 weight_decay=0.0):
        super().__init__(lr, weight_decay)
        try:
            b1, b2 = betas
        except (TypeError, ValueError):
            raise ValueError(f"betas must be a pair (beta1, beta2); got "
                             f"{betas!r}") from None
        self.betas = (V.real("betas[0]", b1, low=0.0, high=1.0,
                             high_open=True),
                      V.real("betas[1]", b2, low=0.0, high=1.0,
                             high_open=True))
        self.eps = V.real("eps", eps, low=0.0, low_open=True)

    def _needs(self):
        return True, True

    def _hp(self, model, clip=0.0):
        hp = super()._hp(model, clip)
        hp[C.HP_BETA1], hp[C.HP_BETA2] = self.betas
        hp[C.HP_EPS] = self.eps
        return hp

    def get_config(self):
        return dict(lr=self.lr, betas=tuple(self.betas), eps=self.eps,
                    weight_decay=self.weight_decay)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019).

    ``p *= 1 - lr wd`` (W only), then Adam without the L2 term.
    """

    _code = C.OPT_ADAMW

    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
                 weight_decay=1e-2):
        super().__init__(lr, betas, eps, weight_decay)
