"""Step-size schedules: the learning rate of optimizer step ``t`` (0-based).

Each schedule maps step indices to learning rates, vectorised, so that the
Trainer computes one array per epoch and hands it to the epoch kernel:
``schedule.values(t, base_lr)``; ``schedule(t, base_lr)`` for one step.
"""
import math

import numpy as np

from . import _validation as V


class Schedule:
    """Base class; subclasses implement :meth:`values`.

    ``values(t, base_lr)`` maps an int64 array of optimizer step indices
    (0-based) and the optimizer's rate to float64 rates, vectorised; the
    Trainer evaluates it once per epoch.  Stateful schedules override
    :meth:`observe`, :meth:`state_dict`, :meth:`load_state_dict`,
    :meth:`reset`.  No constructor parameters.

    Examples
    --------
    A schedule is one vectorised formula of the step index:

    >>> import numpy as np
    >>> from jitmlp.schedules import Schedule
    >>> class Halving(Schedule):
    ...     def values(self, t, base_lr):
    ...         return base_lr * 0.5 ** np.asarray(t, np.float64)
    >>> Halving().values(np.arange(3), 0.1).tolist(), Halving()(3, 0.1)
    ([0.1, 0.05, 0.025], 0.0125)
    """

    def values(self, t, base_lr):  # pragma: no cover - abstract
        """The learning rates of the optimizer steps ``t``.

        ``schedule(t, base_lr)`` is the same for one step, as a float.

        Parameters
        ----------
        t : array_like of int
            Optimizer step indices, 0-based (the Trainer passes one int64
            array per epoch).
        base_lr : float
            The optimizer's ``lr``.

        Returns
        -------
        ndarray of float64, the shape of ``t``
            The learning rate of each step.

        Raises
        ------
        ValueError
            A step the schedule is not defined at (:class:`OneCycle`
            beyond ``total_steps``).

        Examples
        --------
        >>> import numpy as np
        >>> from jitmlp.schedules import StepDecay
        >>> StepDecay(step_size=2, gamma=0.5).values(np.arange(5), 1.0).tolist()
        [1.0, 1.0, 0.5, 0.5, 0.25]
        """
        raise NotImplementedError

    def __call__(self, t, base_lr):
        return float(self.values(np.array([t], np.int64), base_lr)[0])

    # ReduceOnPlateau is the one schedule with state; the others ignore this
    def observe(self, epoch, metric):
        """Called by the Trainer after every epoch with the monitored loss
        (stateless schedules ignore it).

        Parameters
        ----------
        epoch : int
            The epoch just finished, 0-based.
        metric : float
            The monitored loss: the validation loss when there is
            validation data, else the training loss of the epoch.

        Examples
        --------
        >>> from jitmlp.schedules import ReduceOnPlateau
        >>> s = ReduceOnPlateau(factor=0.5, patience=2)
        >>> for epoch, loss in enumerate([1.0, 1.0, 1.0]):
        ...     s.observe(epoch, loss)
        >>> s(0, 0.1)   # two epochs without improvement: halved
        0.05
        """

    def state_dict(self):
        """What the schedule learnt from :meth:`observe` (for checkpoints;
        ``Trainer.state_dict`` includes it).

        Returns
        -------
        dict
            Empty for the stateless schedules.

        Examples
        --------
        >>> from jitmlp.schedules import Cosine, ReduceOnPlateau
        >>> Cosine(T=10).state_dict()
        {}
        >>> s = ReduceOnPlateau()
        >>> s.observe(0, 0.5)
        >>> s.state_dict()
        {'scale': 1.0, 'best': 0.5, 'bad': 0}
        """
        return {}

    def load_state_dict(self, state):
        """Restore what :meth:`state_dict` returned.

        Parameters
        ----------
        state : dict
            As :meth:`state_dict` gives.

        Raises
        ------
        TypeError
            ``state`` is not a dict.
        ValueError
            A missing or invalid entry (stateful schedules).

        Examples
        --------
        >>> from jitmlp.schedules import ReduceOnPlateau
        >>> s = ReduceOnPlateau()
        >>> s.load_state_dict({"scale": 0.2, "best": 0.5, "bad": 1})
        >>> s(0, 1.0)
        0.2
        """
        if not isinstance(state, dict):
            raise TypeError(f"schedule state must be a dict; got "
                            f"{type(state).__name__}")

    def reset(self):
        """Forget what :meth:`observe` saw (``Trainer.reset`` calls this).

        Examples
        --------
        >>> from jitmlp.schedules import ReduceOnPlateau
        >>> s = ReduceOnPlateau(factor=0.5, patience=1)
        >>> s.observe(0, 1.0); s.observe(1, 1.0); s(0, 1.0)
        0.5
        >>> s.reset(); s(0, 1.0)
        1.0
        """

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items()
                         if not k.startswith("_"))
        return f"{type(self).__name__}({args})"


class Constant(Schedule):
    """``lr_t = lr``: the optimizer's own rate at every step (no parameters).

    Examples
    --------
    >>> import numpy as np
    >>> from jitmlp.schedules import Constant
    >>> Constant().values(np.arange(3), 0.01).tolist()
    [0.01, 0.01, 0.01]
    """

    def values(self, t, base_lr):
        return np.full(np.shape(t), float(base_lr))


class StepDecay(Schedule):
    """``lr_t = lr * gamma ** floor(t / step_size)``.

    Parameters
    ----------
    step_size : int >= 1
        Optimizer steps between two decays.
    gamma : float > 0
        Factor per decay.

    Raises
    ------
    ValueError, TypeError
        A parameter out of its range or not a number (named).

    Examples
    --------
    >>> import numpy as np
    >>> from jitmlp.schedules import StepDecay
    >>> StepDecay(step_size=2, gamma=0.1).values(np.arange(5), 1.0).round(3).tolist()
    [1.0, 1.0, 0.1, 0.1, 0.01]
    """

    def __init__(self, step_size, gamma=0.1):
        self.step_size = V.positive_int("step_size", step_size)
        self.gamma = V.real("gamma", gamma, low=0.0, low_open=True)

    def values(self, t, base_lr):
        return base_lr * self.gamma ** (np.asarray(t) // self.step_size)


class Exponential(Schedule):
    """``lr_t = lr * gamma ** t``.

    Parameters
    ----------
    gamma : float > 0
        Factor per optimizer step.

    Raises
    ------
    ValueError, TypeError
        ``gamma`` not a number > 0.

    Examples
    --------
    >>> import numpy as np
    >>> from jitmlp.schedules import Exponential
    >>> Exponential(gamma=0.5).values(np.arange(4), 1.0).tolist()
    [1.0, 0.5, 0.25, 0.125]
    """

    def __init__(self, gamma):
        self.gamma = V.real("gamma", gamma, low=0.0, low_open=True)

    def values(self, t, base_lr):
        return base_lr * self.gamma ** np.asarray(t, np.float64)


class InverseScaling(Schedule):
    """``lr_t = lr / (t + 1) ** power_t`` per optimizer step (the estimators'
    learning_rate='invscaling' follows scikit-learn's per-epoch variant).

    Parameters
    ----------
    power_t : float >= 0

    Raises
    ------
    ValueError, TypeError
        ``power_t`` not a number >= 0.

    Examples
    --------
    >>> import numpy as np
    >>> from jitmlp.schedules import InverseScaling
    >>> InverseScaling(power_t=0.5).values(np.array([0, 3, 15]), 1.0).tolist()
    [1.0, 0.5, 0.25]
    """

    def __init__(self, power_t=0.5):
        self.power_t = V.real("power_t", power_t, low=0.0)

    def values(self, t, base_lr):
        return base_lr / (np.asarray(t, np.float64) + 1.0) ** self.power_t


class Cosine(Schedule):
    """Cosine annealing to a floor (Loshchilov & Hutter 2017, SGDR eq. 5).

    ``lr_t = eta_min + (lr - eta_min) (1 + cos(pi t_cur / T_i)) / 2`` where,
    without restarts, ``t_cur = min(t, T)``, ``T_i = T``; with
    ``restarts=True`` the period restarts at ``T, T + T*t_mult, ...``.

    Parameters
    ----------
    T : int >= 1
        Optimizer steps of the (first) period.
    eta_min : float >= 0
        The floor.
    restarts : bool
        Warm restarts (SGDR).
    t_mult : int >= 1
        Growth of the period at each restart.

    Raises
    ------
    ValueError, TypeError
        A parameter out of its range or of the wrong type (named).

    Examples
    --------
    >>> import numpy as np
    >>> from jitmlp.schedules import Cosine
    >>> Cosine(T=4).values(np.arange(5), 1.0).round(3).tolist()
    [1.0, 0.854, 0.5, 0.146, 0.0]
    """

    def __init__(self, T, eta_min=0.0, restarts=False, t_mult=1):
        self.T = V.positive_int("T", T)
        self.eta_min = V.real("eta_min", eta_min, low=0.0)
        self.restarts = bool(restarts)
        self.t_mult = V.positive_int("t_mult", t_mult)

    def values(self, t, base_lr):
        t = np.asarray(t, np.int64)
        if not self.restarts:
            tc = np.minimum(t, self.T).astype(np.float64)
            Ti = float(self.T)
        elif self.t_mult == 1:
            tc = (t % self.T).astype(np.float64)
            Ti = float(self.T)
        else:
            # cycle i starts at T (m^i - 1) / (m - 1): i from a logarithm,
            # then corrected by one either way against exact integer starts
            # (O(len(t)), whatever the step count; was a loop over cycles)
            mm = self.t_mult
            i = np.floor(np.log1p(t * (mm - 1) / self.T) / np.log(mm))
            i = i.astype(np.int64)

            def start(k):
                return self.T * (mm ** k.astype(np.float64) - 1) / (mm - 1)
            i = np.where(start(i) > t, i - 1, i)
            i = np.where(start(i + 1) <= t, i + 1, i)
            tc = t - start(i)
            Ti = self.T * mm ** i.astype(np.float64)
        return self.eta_min + (base_lr - self.eta_min) * 0.5 * (
            1.0 + np.cos(np.pi * tc / Ti))


class LinearWarmup(Schedule):
    """``lr_t = lr * (start + (1 - start) * (t + 1) / warmup)`` for
    ``t < warmup``, then ``after`` evaluated at ``t - warmup``.

    Parameters
    ----------
    warmup : int >= 1
        Optimizer steps of the linear ramp.
    after : Schedule, optional
        The schedule after the ramp (default :class:`Constant`).
    start : float in [0, 1]
        Fraction of the rate at the first step.

    Raises
    ------
    TypeError
        ``after`` is not a :class:`Schedule`.
    ValueError
        ``warmup`` or ``start`` out of range.

    Examples
    --------
    >>> import numpy as np
    >>> from jitmlp.schedules import LinearWarmup, StepDecay
    >>> LinearWarmup(2, after=StepDecay(2)).values(np.arange(5), 1.0).tolist()
    [0.5, 1.0, 1.0, 1.0, 0.1]
    """

    def __init__(self, warmup, after=None, start=0.0):
        self.warmup = V.positive_int("warmup", warmup)
        if after is not None and not isinstance(after, Schedule):
            raise TypeError(f"after must be a Schedule; got {after!r}")
        self.after = after if after is not None else Constant()
        self.start = V.real("start", start, low=0.0, high=1.0)

    def values(self, t, base_lr):
        t = np.asarray(t, np.int64)
        warm = base_lr * (self.start + (1.0 - self.start)
                          * (t + 1.0) / self.warmup)
        rest = self.after.values(np.maximum(t - self.warmup, 0), base_lr)
        return np.where(t < self.warmup, warm, rest)

    def observe(self, epoch, metric):
        self.after.observe(epoch, metric)

    def state_dict(self):
        return {"after": self.after.state_dict()}

    def load_state_dict(self, state):
        super().load_state_dict(state)
        self.after.load_state_dict(state.get("after", {}))

    def reset(self):
        self.after.reset()


class ReduceOnPlateau(Schedule):
    """scikit-learn's 'adaptive': the rate is divided by ``1/factor`` (5)
    each time ``patience`` (2) consecutive epochs fail to lower the monitored
    loss by at least ``tol``; never below ``min_lr``.

    Parameters
    ----------
    factor : float in (0, 1)
    patience : int >= 1
        Epochs without improvement before a reduction.
    tol : float >= 0
    min_lr : float >= 0

    Raises
    ------
    ValueError, TypeError
        A parameter out of its range or of the wrong type (named).

    Examples
    --------
    The Trainer calls :meth:`observe` after each epoch; by hand:

    >>> from jitmlp.schedules import ReduceOnPlateau
    >>> s = ReduceOnPlateau(factor=0.1, patience=1, min_lr=0.005)
    >>> for epoch, loss in enumerate([0.9, 0.5, 0.5, 0.5]):
    ...     s.observe(epoch, loss)
    ...     print(epoch, round(s(0, 0.1), 4))
    0 0.1
    1 0.1
    2 0.01
    3 0.005
    """

    def __init__(self, factor=0.2, patience=2, tol=1e-4, min_lr=0.0):
        self.factor = V.real("factor", factor, low=0.0, high=1.0,
                             low_open=True, high_open=True)
        self.patience = V.positive_int("patience", patience)
        self.tol = V.real("tol", tol, low=0.0)
        self.min_lr = V.real("min_lr", min_lr, low=0.0)
        self._scale = 1.0
        self._best = math.inf
        self._bad = 0

    def values(self, t, base_lr):
        return np.full(np.shape(t), max(base_lr * self._scale, self.min_lr))

    def observe(self, epoch, metric):
        if metric < self._best - self.tol:
            self._best = metric
            self._bad = 0
        else:
            self._bad += 1
            if self._bad >= self.patience:
                self._scale *= self.factor
                self._bad = 0
        if metric < self._best:
            self._best = metric

    def state_dict(self):
        return {"scale": self._scale, "best": self._best, "bad": self._bad}

    def load_state_dict(self, state):
        super().load_state_dict(state)
        try:
            scale = V.real("scale", state["scale"], low=0.0, low_open=True)
            best = float(state["best"])
            bad = V.positive_int("bad", state["bad"], minimum=0)
        except KeyError as exc:
            raise ValueError(f"ReduceOnPlateau state is missing {exc}") from None
        if math.isnan(best):
            raise ValueError("ReduceOnPlateau state: best is NaN")
        self._scale, self._best, self._bad = scale, best, bad

    def reset(self):
        self._scale = 1.0
        self._best = math.inf
        self._bad = 0


class OneCycle(Schedule):
    """PyTorch's ``OneCycleLR`` (Smith & Topin 2018) with cosine annealing
    and ``three_phase=False``: the learning rate of step ``t`` (0-based).

    From ``max_lr / div_factor`` up to ``max_lr`` over the first
    ``pct_start * total_steps - 1`` steps, then down to
    ``max_lr / div_factor / final_div_factor`` at step ``total_steps - 1``,
    both halves of a cosine: ``end + (start - end) (1 + cos(pi pct)) / 2``
    with ``pct`` the fraction of the phase done.  The optimizer's ``lr`` is
    ignored (``max_lr`` sets the scale).  As in PyTorch, a step beyond
    ``total_steps`` is an error (ValueError): size ``total_steps`` to the
    training, e.g. ``epochs * ceil(n / batch_size)``.  PyTorch's momentum
    cycling (``cycle_momentum``) is not part of this schedule.

    Parameters
    ----------
    max_lr : float > 0
        The peak learning rate.
    total_steps : int >= 1
        Optimizer steps of the whole cycle.
    pct_start : float in (0, 1)
        Fraction of the steps spent rising.
    div_factor : float > 0
        ``max_lr / div_factor`` is the first step's rate.
    final_div_factor : float > 0
        The last step's rate is ``max_lr / div_factor / final_div_factor``.

    Raises
    ------
    ValueError, TypeError
        A parameter out of its range or of the wrong type (named), or
        ``pct_start * total_steps`` leaving a phase without steps.

    Examples
    --------
    >>> import numpy as np
    >>> from jitmlp.schedules import OneCycle
    >>> s = OneCycle(max_lr=1.0, total_steps=10, pct_start=0.3)
    >>> s.values(np.arange(10), None).round(3).tolist()
    [0.04, 0.52, 1.0, 0.95, 0.812, 0.611, 0.389, 0.188, 0.05, 0.0]
    """

    def __init__(self, max_lr, total_steps, pct_start=0.3, div_factor=25.0,
                 final_div_factor=1e4):
        self.max_lr = V.real("max_lr", max_lr, low=0.0, low_open=True)
        self.total_steps = V.positive_int("total_steps", total_steps)
        self.pct_start = V.real("pct_start", pct_start, low=0.0, high=1.0,
                                low_open=True, high_open=True)
        self.div_factor = V.real("div_factor", div_factor, low=0.0,
                                 low_open=True)
        self.final_div_factor = V.real("final_div_factor", final_div_factor,
                                       low=0.0, low_open=True)
        end_up = float(self.pct_start * self.total_steps) - 1
        if not 0 < end_up < self.total_steps - 1:
            raise ValueError(f"OneCycle: pct_start={self.pct_start} with "
                             f"total_steps={self.total_steps} leaves a phase "
                             f"of no steps (need 1 < pct_start * total_steps "
                             f"< total_steps)")

    def values(self, t, base_lr):
        t = np.asarray(t, np.int64)
        if t.size and (t.min() < 0 or t.max() > self.total_steps):
            raise ValueError(
                f"OneCycle: step {int(t.max())} is beyond total_steps="
                f"{self.total_steps} (PyTorch's OneCycleLR refuses it too); "
                f"build the schedule with total_steps >= the steps trained")
        initial = self.max_lr / self.div_factor
        final = initial / self.final_div_factor
        end_up = float(self.pct_start * self.total_steps) - 1
        end_down = float(self.total_steps - 1)
        tf = t.astype(np.float64)
        up = tf <= end_up
        pct = np.where(up, tf / end_up, (tf - end_up) / (end_down - end_up))
        start = np.where(up, initial, self.max_lr)
        end = np.where(up, self.max_lr, final)
        return end + (start - end) / 2.0 * (np.cos(np.pi * pct) + 1)
