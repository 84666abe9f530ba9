"""Optimizers: hyper-parameters plus state in flat buffers of the params layout.

An optimizer is one small unit, as in optax: a class that validates its
hyper-parameters, names its update rule (a kernel in
:mod:`jitmlp.kernels.update`, formula in its docstring) and declares the
state buffers that rule uses (fields of
:class:`~jitmlp.kernels.structs.OptState`, PyTorch's names).  The base class
allocates, checks, saves and restores those buffers; it has no rule of its
own.  Each update is one fused pass over the whole flat buffer.  Weight decay
touches the weight matrices W only, never b, gamma or beta.

Adding an optimizer: its rule and ``RULE_*`` code (kernels), a subclass here
(``rule``, ``_buffers``, ``_hyper``, ``get_config``), its export in
``jitmlp/__init__.py`` and its entry in the tests' optimizer table.
"""
import math
import numbers

import numba
import numpy as np

from . import _compile
from . import _validation as V
from ._validation import settings_key
from ._errors import DivergenceError
from ._interrupt import Atomic
from .kernels import apply_update, undo_update
from .kernels.update import parallel_parts
from .kernels import consts as C
from .kernels.structs import OptHyper, OptState

# buffers that are means or sums of squares: never negative
_NONNEGATIVE = ("exp_avg_sq", "max_exp_avg_sq", "square_avg", "sum")

# step counts reach the kernels as int64 (t + steps of an epoch must fit)
_MAX_STEPS = 2 ** 62

# OptHyper fields a rule does not use take these values
_HYPER_DEFAULTS = dict(weight_decay=0.0, decoupled=False, momentum=0.0,
                       nesterov=False, beta1=0.0, beta2=0.0, eps=0.0,
                       alpha=0.0, centered=False, lr_decay=0.0, amsgrad=False)


class Optimizer:
    """Base class: the learning rate, weight decay, the step count ``t`` and,
    once bound to a model, the state buffers ``state`` (dict name -> 1-D
    array in the params layout).

    Subclasses set ``rule`` and implement :meth:`_buffers`, :meth:`_hyper`
    and :meth:`get_config`.

    Parameters
    ----------
    lr : float > 0
        Learning rate (a schedule of the Trainer may vary it per step).
    weight_decay : float >= 0
        Decay of the weight matrices W only (never b, gamma, beta).

    Attributes
    ----------
    t : int
        Optimizer steps made (the bias corrections' t).
    state : dict of str -> ndarray or None
        The state buffers (PyTorch's names, shape (n_params,)) once bound.

    Examples
    --------
    Any subclass steps a model from a gradient in the params layout:

    >>> import numpy as np, jitmlp as jm
    >>> opt = jm.SGD(lr=0.1)
    >>> isinstance(opt, jm.Optimizer), opt.t, opt.state
    (True, 0, None)
    >>> jm.Optimizer(lr=0.1, weight_decay=0.0).hyper()
    Traceback (most recent call last):
        ...
    TypeError: Optimizer has no update rule; use SGD, Adam, AdamW, RMSprop or Adagrad
    """

    rule = None   # a consts.RULE_* code; None: not an optimizer on its own

    def __init__(self, lr, weight_decay):
        self.lr = V.real("lr", lr, low=0.0, low_open=True)
        self.weight_decay = V.real("weight_decay", weight_decay, low=0.0)
        self.t = 0
        self.state = None

    # ------------------------------------------------------ the extension
    def _buffers(self):
        """Names of the OptState fields this optimizer's rule uses."""
        raise NotImplementedError(f"{type(self).__name__} declares no state "
                                  f"buffers (_buffers)")

    def _hyper(self):
        """The OptHyper fields this optimizer sets (a dict)."""
        raise NotImplementedError(f"{type(self).__name__} defines no update "
                                  f"rule (_hyper)")

    def get_config(self):
        """The constructor arguments: ``type(opt)(**opt.get_config())``
        builds an equal, fresh optimizer.

        Returns
        -------
        dict of str -> float, bool or tuple
            The hyper-parameters by keyword (``lr``, ``weight_decay`` and
            the subclass's own).

        Examples
        --------
        >>> import jitmlp as jm
        >>> jm.Adam(lr=3e-3).get_config()
        {'lr': 0.003, 'betas': (0.9, 0.999), 'eps': 1e-08, 'weight_decay': 0.0, 'amsgrad': False}
        >>> jm.RMSprop(**jm.RMSprop(momentum=0.5).get_config()).momentum
        0.5
        """
        raise NotImplementedError

    # ------------------------------------------------------ kernel inputs
    def hyper(self):
        """The hyper-parameters as the update kernels read them.

        Returns
        -------
        jitmlp.kernels.structs.OptHyper
            A named tuple: the ``rule`` code, then every hyper-parameter of
            any rule as a float or bool (those this rule does not use at
            their neutral values, e.g. ``momentum=0.0``).

        Raises
        ------
        TypeError
            The base :class:`Optimizer`, which has no update rule.

        Examples
        --------
        >>> import jitmlp as jm
        >>> h = jm.SGD(lr=0.1, momentum=0.9).hyper()
        >>> h.momentum, h.nesterov, h.beta1
        (0.9, False, 0.0)
        """
        if self.rule is None:
            raise TypeError(f"{type(self).__name__} has no update rule; use "
                            f"SGD, Adam, AdamW, RMSprop or Adagrad")
        cache = self.__dict__.get("_checked")
        if cache is not None and cache[0] == settings_key(self.get_config()):
            return cache[1]
        fields = dict(_HYPER_DEFAULTS, weight_decay=self.weight_decay)
        fields.update(self._hyper())
        fields = {k: (v if isinstance(v, bool) else float(v))
                  for k, v in fields.items()}
        return OptHyper(rule=int(self.rule), **fields)

    # the OptState slot of each PyTorch-named buffer (see kernels/structs.py)
    _SLOTS = {"exp_avg": "m", "momentum_buffer": "m", "exp_avg_sq": "v",
              "square_avg": "v", "sum": "v", "max_exp_avg_sq": "aux",
              "grad_avg": "aux"}

    def _state_tuple(self, dtype):
        """OptState with this optimizer's buffers in their slots and empty
        arrays in the unused ones."""
        key = (np.dtype(dtype),) + tuple(self.state.items())
        cache = self.__dict__.get("_state_cache")
        if cache is not None and cache[0][0] == key[0] and \
                len(cache[0]) == len(key) and all(
                    a[0] == b[0] and a[1] is b[1]
                    for a, b in zip(cache[0][1:], key[1:])):
            return cache[1]   # the same buffers: the same tuple
        slots = {k: np.zeros(0, dtype) for k in OptState._fields}
        for name, buf in self.state.items():
            slots[self._SLOTS[name]] = buf
        st = OptState(**slots)
        self.__dict__["_state_cache"] = (key, st)
        return st

    # ------------------------------------------------------ binding
    def bind(self, model):
        """Allocate (or check) the state buffers for ``model``'s layout.

        The kernels read the buffers without bounds checks, so anything but
        1-D writable C-contiguous buffers of the model's dtype and size is
        refused (or, before the first step, replaced by fresh zeros).
        Hyper-parameters and ``t`` are plain attributes a user may set between
        fits: they are checked again here.

        Parameters
        ----------
        model : MLP

        Raises
        ------
        ValueError, TypeError
            Invalid hyper-parameters, step count or state buffers (a state
            of another model after the first step).

        Examples
        --------
        >>> import jitmlp as jm
        >>> opt = jm.Adam()
        >>> opt.bind(jm.MLP([3, 4, 1], dtype="float32", seed=0))
        >>> {k: (v.shape, str(v.dtype)) for k, v in opt.state.items()}
        {'exp_avg': ((21,), 'float32'), 'exp_avg_sq': ((21,), 'float32')}
        """
        self._check_hyper()
        if isinstance(self.t, bool) or not isinstance(self.t, numbers.Integral) \
                or not 0 <= self.t < _MAX_STEPS:
            raise ValueError(f"optimizer.t must be an integer in [0, 2**62); "
                             f"got {self.t!r}")
        self.t = int(self.t)
        P = model.params.size
        need = self._buffers()

        def fits(a):
            return (isinstance(a, np.ndarray) and a.ndim == 1
                    and a.dtype == model.dtype and a.flags.c_contiguous
                    and a.flags.writeable and a.size == P)
        ok = (isinstance(self.state, dict)
              and all(fits(self.state.get(k)) for k in need))
        if ok:
            for k in need:
                a = self.state[k]
                if np.shares_memory(a, model.params):
                    raise ValueError(f"optimizer state {k!r} shares memory "
                                     f"with the model's parameters")
                # every bind (values may be written in place between steps):
                # min and max, two passes without temporaries; NaN
                # propagates into both
                lo, hi = (a.min(), a.max()) if a.size else (0.0, 0.0)
                if not (math.isfinite(lo) and math.isfinite(hi)) or (
                        k in _NONNEGATIVE and lo < 0):
                    raise ValueError(f"optimizer state {k!r} holds "
                                     f"non-finite" + (" or negative" if k in
                                                      _NONNEGATIVE else "")
                                     + " values")
        if self.state is not None and not ok:
            if self.t > 0:
                raise ValueError("this optimizer holds state for another "
                                 "model (different size or dtype) or its "
                                 "state buffers were replaced; create a new "
                                 "optimizer or call reset()")
            self.state = None
        if self.state is None:
            self.state = {k: np.zeros(P, model.dtype) for k in need}
        else:   # keep only what the rule uses (settings may have changed)
            self.state = {k: self.state[k] for k in need}

    def _check_hyper(self):
        """Validate the hyper-parameters (through the constructor, which
        names a bad one) and build their kernel tuple; skipped while they
        are unchanged since the last check (compared by type and value;
        anything but plain scalars is checked every time)."""
        key = settings_key(self.get_config())
        cache = self.__dict__.get("_checked")
        if key is None or cache is None or cache[0] != key:
            type(self)(**self.get_config())
            self.__dict__.pop("_checked", None)
            hy = self.hyper()
            if key is not None:
                self.__dict__["_checked"] = (key, hy)

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_checked", None)   # a cache of bind's checks
        state.pop("_state_cache", None)
        return state

    def __setstate__(self, state):
        state.pop("_checked", None)
        state.pop("_state_cache", None)
        self.__dict__.update(state)
        if isinstance(self.__dict__.get("state"), dict):
            self.state = {k: np.array(v, copy=True)
                          for k, v in self.state.items()}

    def reset(self):
        """Forget the state buffers and the step count (``t = 0``); the
        hyper-parameters stay.

        Examples
        --------
        >>> import numpy as np, jitmlp as jm
        >>> model, opt = jm.MLP([2, 1], seed=0), jm.SGD(lr=0.1, momentum=0.9)
        >>> opt.step(model, np.ones(model.n_params))
        >>> opt.t
        1
        >>> opt.reset(); opt.t, opt.state
        (0, None)
        """
        with Atomic():
            self.t = 0
            self.state = None

    def step(self, model, grad, lr=None):
        """Apply one update to ``model.params`` from ``grad`` (same layout).

        Parameters
        ----------
        model : MLP
        grad : array_like, shape (n_params,)
            The gradient in the layout of ``model.params`` (not modified).
        lr : float, optional
            This step's learning rate (default ``self.lr``).

        Raises
        ------
        ValueError, TypeError
            A malformed or non-finite ``grad``, invalid settings.
        DivergenceError
            The update would make parameters non-finite; it was undone (the
            parameters are as before, the state restarts from zero).

        Examples
        --------
        Plain gradient descent on the squared loss, one step by hand:

        >>> import numpy as np, jitmlp as jm
        >>> model = jm.MLP([2, 1], seed=0)
        >>> X, y = np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([1.0, -1.0])
        >>> before, grad = model.loss_and_grad(X, y)
        >>> jm.SGD(lr=0.01).step(model, grad)
        >>> model.loss(X, y) < before
        True
        """
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
        st = self._state_tuple(model.dtype)
        segments = model._layout.segments
        parts = parallel_parts(segments, numba.get_num_threads())
        hy = self.hyper()
        # a first compile here, where Ctrl-C may cut it short (not in the
        # section below, which holds it)
        _compile.ensure(apply_update, (model.dtype,), lambda: (
            model.params, grad, segments, hy, st, lr, self.t + 1, 1.0, parts))
        with Atomic():   # Ctrl-C comes before or after the counted update
            bad = apply_update(model.params, grad, segments, hy, st, lr,
                               self.t + 1, 1.0, parts)
            if bad:
                undo_update(model.params, grad, st)
            else:
                self.t += 1
        if bad:
            raise DivergenceError("the update made parameters non-finite; it "
                                  "was undone (the optimizer state restarts "
                                  "from zero)", None, self.t, None)

    # ------------------------------------------------------ persistence
    def state_dict(self):
        """Class, hyper-parameters, step count and copies of the state buffers.

        Returns
        -------
        dict
            ``{"class": str, "hyper": get_config(), "t": int, "state": dict
            of str -> ndarray (n_params,) or None}``; arrays are copies.
            :meth:`load_state_dict` restores it.

        Examples
        --------
        >>> import numpy as np, jitmlp as jm
        >>> model, opt = jm.MLP([2, 1], seed=0), jm.Adam(lr=0.01)
        >>> opt.step(model, np.ones(model.n_params))
        >>> sd = opt.state_dict()
        >>> sd["class"], sd["t"], sorted(sd["state"])
        ('Adam', 1, ['exp_avg', 'exp_avg_sq'])
        """
        return {"class": type(self).__name__, "hyper": self.get_config(),
                "t": self.t,
                "state": None if self.state is None else
                {k: v.copy() for k, v in self.state.items()}}

    def load_state_dict(self, state):
        """Restore what :meth:`state_dict` returned (resumes exactly).

        Parameters
        ----------
        state : dict
            ``{"class", "hyper", "t", "state"}`` as :meth:`state_dict` gives.

        Raises
        ------
        ValueError, TypeError
            A missing, unexpected or malformed entry (checked before anything
            changes); sizes against a model are checked at the next step.

        Examples
        --------
        >>> import numpy as np, jitmlp as jm
        >>> model, opt = jm.MLP([2, 1], seed=0), jm.Adam(lr=0.01)
        >>> opt.step(model, np.ones(model.n_params))
        >>> again = jm.Adam()
        >>> again.load_state_dict(opt.state_dict())
        >>> again.lr, again.t
        (0.01, 1)
        >>> jm.SGD().load_state_dict(opt.state_dict())
        Traceback (most recent call last):
            ...
        ValueError: state is for 'Adam', not SGD
        """
        if not isinstance(state, dict):
            raise TypeError(f"optimizer state must be a dict; got "
                            f"{type(state).__name__}")
        need = ("class", "hyper", "t", "state")
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
        if t >= _MAX_STEPS:
            raise ValueError(f"optimizer state 't' must be < 2**62; got {t}")
        buffers = state["state"]
        if buffers is not None:
            if not isinstance(buffers, dict):
                raise TypeError("optimizer state: 'state' must be a dict or "
                                "None")
            unknown = sorted(set(buffers) - set(fresh._buffers()))
            if unknown:
                raise ValueError(f"optimizer state: buffers {unknown} are not "
                                 f"used by {type(self).__name__}")
            checked = {}
            for k, a in buffers.items():
                a = np.asarray(a)
                if a.ndim != 1 or a.dtype.kind != "f":
                    raise ValueError(f"optimizer state: {k!r} must be a 1-D "
                                     f"float array; got shape {a.shape}, "
                                     f"dtype {a.dtype}")
                if not np.isfinite(a).all():
                    raise ValueError(f"optimizer state: {k!r} contains NaN "
                                     f"or infinite values")
                if k in _NONNEGATIVE and (a < 0).any():
                    raise ValueError(f"optimizer state: {k!r} (a sum of "
                                     f"squares) has negative values")
                checked[k] = np.array(a, order="C", copy=True)
            buffers = checked
        with Atomic():
            self.__dict__.update({k: v for k, v in fresh.__dict__.items()
                                  if k not in ("state", "t")})
            self.t = t
            self.state = buffers

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def _betas(betas):
    try:
        b1, b2 = betas
    except (TypeError, ValueError):
        raise ValueError(f"betas must be a pair (beta1, beta2); got "
                         f"{betas!r}") from None
    return (V.real("betas[0]", b1, low=0.0, high=1.0, high_open=True),
            V.real("betas[1]", b2, low=0.0, high=1.0, high_open=True))


def _flag(name, value):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool; got {value!r}")
    return bool(value)


class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum
    (torch.optim.SGD with dampening 0).

    ``g += wd * W``;  with momentum ``v = mu v + g`` (first step ``v = g``),
    then ``g = g + mu v`` (Nesterov) or ``g = v``;  ``p -= lr g``.

    Parameters
    ----------
    lr : float > 0
    momentum : float in [0, 1)
    nesterov : bool (needs momentum > 0)
    weight_decay : float >= 0, the L2 coefficient on W

    Raises
    ------
    ValueError, TypeError
        A hyper-parameter out of its range or of the wrong type (named), or
        ``nesterov=True`` without momentum.

    Examples
    --------
    >>> import jitmlp as jm
    >>> jm.SGD(lr=0.1, momentum=0.9, nesterov=True)
    SGD(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.0)
    """

    rule = C.RULE_SGD

    def __init__(self, lr=0.01, momentum=0.0, nesterov=False,
                 weight_decay=0.0):
        super().__init__(lr, weight_decay)
        self.momentum = V.real("momentum", momentum, low=0.0, high=1.0,
                               high_open=True)
        self.nesterov = _flag("nesterov", nesterov)
        if self.nesterov and self.momentum == 0.0:
            raise ValueError("nesterov=True needs momentum > 0")

    def _buffers(self):
        return ("momentum_buffer",) if self.momentum > 0 else ()

    def _hyper(self):
        return dict(momentum=self.momentum, nesterov=self.nesterov)

    def get_config(self):
        return dict(lr=self.lr, momentum=self.momentum,
                    nesterov=self.nesterov, weight_decay=self.weight_decay)


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015, Alg. 1) with L2 weight decay on W
    (torch.optim.Adam).

    ``g += wd W``;  ``m = b1 m + (1-b1) g``;  ``v = b2 v + (1-b2) g^2``;
    with ``amsgrad`` ``vmax = max(vmax, v)`` replaces ``v`` below (Reddi et
    al. 2018);  ``p -= lr (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)``.

    Parameters
    ----------
    lr : float > 0
    betas : (float, float) in [0, 1)
    eps : float > 0
    weight_decay : float >= 0
    amsgrad : bool

    Examples
    --------
    >>> import numpy as np, jitmlp as jm
    >>> model = jm.MLP([2, 8, 1], seed=0)
    >>> opt = jm.Adam(lr=1e-2, amsgrad=True)
    >>> _, grad = model.loss_and_grad(np.ones((4, 2)), np.zeros(4))
    >>> opt.step(model, grad); opt.t, sorted(opt.state)
    (1, ['exp_avg', 'exp_avg_sq', 'max_exp_avg_sq'])
    """

    rule = C.RULE_ADAM
    _decoupled = False

    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
                 weight_decay=0.0, amsgrad=False):
        super().__init__(lr, weight_decay)
        self.betas = _betas(betas)
        self.eps = V.real("eps", eps, low=0.0, low_open=True)
        self.amsgrad = _flag("amsgrad", amsgrad)

    def _buffers(self):
        return ("exp_avg", "exp_avg_sq") + (
            ("max_exp_avg_sq",) if self.amsgrad else ())

    def _hyper(self):
        return dict(beta1=self.betas[0], beta2=self.betas[1], eps=self.eps,
                    decoupled=self._decoupled, amsgrad=self.amsgrad)

    def get_config(self):
        return dict(lr=self.lr, betas=tuple(self.betas), eps=self.eps,
                    weight_decay=self.weight_decay, amsgrad=self.amsgrad)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019;
    torch.optim.AdamW).

    ``p *= 1 - lr wd`` (W only), then Adam without the L2 term.

    Parameters
    ----------
    lr : float > 0
    betas : (float, float) in [0, 1)
    eps : float > 0
    weight_decay : float >= 0, default 1e-2
        Decoupled: applied to the parameters, not added to the gradient.
    amsgrad : bool

    Examples
    --------
    >>> import numpy as np, jitmlp as jm
    >>> model = jm.MLP([2, 1], seed=0)
    >>> W = model.state_dict()["out.W"].copy()
    >>> jm.AdamW(lr=0.1, weight_decay=0.5).step(model, np.zeros(model.n_params))
    >>> np.allclose(model.state_dict()["out.W"], 0.95 * W)  # p *= 1 - lr wd
    True
    """

    _decoupled = True

    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
                 weight_decay=1e-2, amsgrad=False):
        super().__init__(lr, betas, eps, weight_decay, amsgrad)


class RMSprop(Optimizer):
    """RMSprop (torch.optim.RMSprop).

    ``g += wd W``;  ``s = alpha s + (1-alpha) g^2``;  centered:
    ``gbar = alpha gbar + (1-alpha) g``, ``d = sqrt(s - gbar^2) + eps``, else
    ``d = sqrt(s) + eps``;  momentum: ``buf = mu buf + g / d``,
    ``p -= lr buf``, else ``p -= lr g / d``.

    Parameters
    ----------
    lr : float > 0
    alpha : float in [0, 1)
    eps : float > 0
    momentum : float in [0, 1)
    centered : bool
    weight_decay : float >= 0

    Examples
    --------
    >>> import jitmlp as jm
    >>> jm.RMSprop(lr=1e-3, centered=True)._buffers()
    ('square_avg', 'grad_avg')
    """

    rule = C.RULE_RMSPROP

    def __init__(self, lr=1e-2, alpha=0.99, eps=1e-8, momentum=0.0,
                 centered=False, weight_decay=0.0):
        super().__init__(lr, weight_decay)
        self.alpha = V.real("alpha", alpha, low=0.0, high=1.0, high_open=True)
        self.eps = V.real("eps", eps, low=0.0, low_open=True)
        self.momentum = V.real("momentum", momentum, low=0.0, high=1.0,
                               high_open=True)
        self.centered = _flag("centered", centered)

    def _buffers(self):
        return ("square_avg",) + (("momentum_buffer",) if self.momentum > 0
                                  else ()) + (("grad_avg",) if self.centered
                                              else ())

    def _hyper(self):
        return dict(alpha=self.alpha, eps=self.eps, momentum=self.momentum,
                    centered=self.centered)

    def get_config(self):
        return dict(lr=self.lr, alpha=self.alpha, eps=self.eps,
                    momentum=self.momentum, centered=self.centered,
                    weight_decay=self.weight_decay)


class Adagrad(Optimizer):
    """Adagrad (Duchi, Hazan & Singer 2011; torch.optim.Adagrad).

    ``g += wd W``;  ``clr = lr / (1 + (t-1) lr_decay)``;  ``sum += g^2``;
    ``p -= clr g / (sqrt(sum) + eps)``.

    Parameters
    ----------
    lr : float > 0
    lr_decay : float >= 0
    eps : float > 0
    weight_decay : float >= 0

    Examples
    --------
    >>> import jitmlp as jm
    >>> jm.Adagrad(lr=0.05, lr_decay=1e-3)
    Adagrad(lr=0.05, lr_decay=0.001, eps=1e-10, weight_decay=0.0)
    """

    rule = C.RULE_ADAGRAD

    def __init__(self, lr=1e-2, lr_decay=0.0, eps=1e-10, weight_decay=0.0):
        super().__init__(lr, weight_decay)
        self.lr_decay = V.real("lr_decay", lr_decay, low=0.0)
        self.eps = V.real("eps", eps, low=0.0, low_open=True)

    def _buffers(self):
        return ("sum",)

    def _hyper(self):
        return dict(lr_decay=self.lr_decay, eps=self.eps)

    def get_config(self):
        return dict(lr=self.lr, lr_decay=self.lr_decay, eps=self.eps,
                    weight_decay=self.weight_decay)


# name -> class: every optimizer of the package (the tests draw from this)
OPTIMIZERS = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop,
              "adagrad": Adagrad}
