"""Trainer and History: epochs, shuffling, schedules, validation, stopping.

Per epoch the Trainer draws the sample order and the learning rate of every
step in Python, then one call of :func:`jitmlp.kernels.train_epoch` trains the
whole epoch.  Everything per-batch happens inside that kernel.
"""
import math
import numbers
import time
import warnings

import numba
import numpy as np

from . import _compile
from ._interrupt import Atomic, AtOnce, DeferredInterrupt
from . import _precompile
from ._threads import ThreadGovernor, batch_sizes
from . import _validation as V
from ._sparse import CSRRows
from ._errors import DivergenceError  # noqa: F401 (jitmlp.trainer.DivergenceError)
from .kernels import consts as C
from .kernels import train_epoch, train_epoch_parallel
from .kernels.structs import EpochOut, EpochPlan
from .kernels.update import PARALLEL_MIN
from .model import MLP
from .optim import Optimizer
from .schedules import Constant, Schedule


class History:
    """Per-epoch record of a fit.

    Attributes
    ----------
    epoch : list of int       global epoch index (continues across fits)
    loss : list of float      mean training loss over the epoch's samples
    val_loss : list of float  validation loss (evaluation mode), when given
    val_accuracy : list of float  validation accuracy (classification losses)
    lr : list of float        learning rate of the epoch's first step
    lr_steps : list of ndarray   learning rate of every step made
    steps : list of int       optimizer steps made in the epoch (fewer than
        ceil(n / batch_size) only in an interrupted or diverged epoch)
    seconds : list of float   wall time of the epoch (training kernel only)
    samples_per_second : list of float
    grad_norms : list of ndarray  mean ||dW|| of every layer (hidden first),
        over up to 64 evenly spaced steps of the epoch
    stopped_early : bool, best_epoch : int or None
    interrupted : bool        the fit was stopped by Ctrl-C (KeyboardInterrupt)
    diverged : bool           the fit ended with a DivergenceError
    diverged_epoch : int or None  global index of the epoch it diverged in
        (recorded in the lists above only if it made steps before)

    Examples
    --------
    >>> import numpy as np, jitmlp as jm
    >>> X = np.random.default_rng(0).standard_normal((64, 3))
    >>> model = jm.MLP([3, 8, 1], seed=0)
    >>> hist = jm.Trainer(model, jm.SGD(lr=0.05), epochs=2, seed=0).fit(
    ...     X, X[:, 0])
    >>> hist.epoch, hist.steps
    ([0, 1], [2, 2])
    """

    KEYS = ("epoch", "loss", "val_loss", "val_accuracy", "lr", "steps",
            "seconds", "samples_per_second", "grad_norms")

    def __init__(self):
        for k in self.KEYS:
            setattr(self, k, [])
        self.lr_steps = []
        self.stopped_early = False
        self.best_epoch = None
        self.interrupted = False
        self.diverged = False
        self.diverged_epoch = None

    def __len__(self):
        return len(self.loss)

    def __getitem__(self, key):
        return getattr(self, key)

    def as_dict(self):
        """The per-epoch lists as a JSON-serialisable dict.

        Returns
        -------
        dict of str -> list
            One entry per name of ``History.KEYS`` (``epoch``, ``loss``,
            ``val_loss``, ``val_accuracy``, ``lr``, ``steps``, ``seconds``,
            ``samples_per_second``, ``grad_norms``), each a list with one
            item per epoch; ``grad_norms`` as nested lists of floats.

        Examples
        --------
        >>> import json, numpy as np, jitmlp as jm
        >>> X = np.random.default_rng(0).standard_normal((32, 2))
        >>> hist = jm.Trainer(jm.MLP([2, 4, 1], seed=0), jm.SGD(lr=0.05),
        ...                   epochs=2, seed=0).fit(X, X[:, 0])
        >>> d = hist.as_dict()
        >>> d["epoch"], d["steps"], len(d["grad_norms"][0])  # 2 layers' norms
        ([0, 1], [1, 1], 2)
        >>> len(json.dumps(d)) > 0
        True
        """
        d = {k: list(getattr(self, k)) for k in self.KEYS}
        d["grad_norms"] = [g.tolist() for g in self.grad_norms]
        return d

    def __repr__(self):
        n = len(self)
        parts = [f"{n} epoch{'s' if n != 1 else ''}"]
        if self.loss:
            parts.append(f"loss {self.loss[0]:.4g} -> {self.loss[-1]:.4g}"
                         if n > 1 else f"loss {self.loss[-1]:.4g}")
        if self.val_loss:
            parts.append(f"val_loss {self.val_loss[-1]:.4g}")
        if self.val_accuracy:
            parts.append(f"val_accuracy {self.val_accuracy[-1]:.4g}")
        if self.samples_per_second:
            parts.append(f"{readable(np.median(self.samples_per_second))} "
                         f"samples/s")
        if self.stopped_early:
            best = ("" if self.best_epoch is None
                    else f" (best epoch {self.best_epoch + 1})")
            parts.append(f"stopped early{best}")
        if self.interrupted:
            parts.append("interrupted")
        if self.diverged:
            parts.append("diverged" if self.diverged_epoch is None else
                         f"diverged in epoch {self.diverged_epoch + 1}")
        return f"History({', '.join(parts)})"

    def plot(self, *, fig=None, ax=None, title=None, label=None, x="epoch",
             logy="auto", **line_kw):
        """Plot the curves this history holds in one matplotlib figure.

        Panels (those with data): training and validation loss; validation
        accuracy; learning rate (per optimizer step when ``lr_steps`` is
        recorded); per-layer gradient norms.  Labelled axes, a legend in
        every panel.  A diverged run gets a red ``x`` labelled "diverged in
        epoch k" (at the end of its curve, or at the top of the panel when
        no epoch was recorded), an interrupted one a dotted vertical line,
        an early-stopped one a dashed line at the best epoch and a marker
        where it stopped.  Epochs are numbered from 1.

        Parameters
        ----------
        fig : matplotlib.figure.Figure, optional
            Draw the panels into this figure (new subplots).
        ax : matplotlib.axes.Axes or sequence of Axes, optional
            Draw into these axes instead, the panels in the order above
            (one Axes: the loss panel only; handy to compare runs, each
            call with its own ``label``).
        title : str, optional
            The figure's title.
        label : str, optional
            Name of this run in the legends (default: the curve names).
        x : {"epoch", "step", "samples"}
            The horizontal axis: epochs, optimizer steps, or samples seen.
        logy : "auto", bool
            Logarithmic loss axis; "auto": when the loss spans over 20x.
        **line_kw
            Passed to ``Axes.plot`` for the main curves (``color``,
            ``linestyle``, ``marker``...).

        Returns
        -------
        matplotlib.figure.Figure

        Raises
        ------
        ImportError
            matplotlib is not installed (``pip install "jitmlp[plot]"``).

        Examples
        --------
        >>> import importlib.util, numpy as np, jitmlp as jm
        >>> X, y = jm.datasets.make_spirals(200, n_classes=2, seed=0)
        >>> trainer = jm.Trainer(jm.MLP([2, 8, 2], loss="cross_entropy",
        ...                             seed=0), jm.Adam(lr=1e-2), epochs=2,
        ...                      seed=0)
        >>> hist = trainer.fit(X[:150], y[:150],
        ...                    validation_data=(X[150:], y[150:]))
        >>> if importlib.util.find_spec("matplotlib"):  # the plot extra
        ...     import matplotlib
        ...     matplotlib.use("Agg")
        ...     fig = hist.plot(title="spirals")
        ...     assert fig.axes[0].get_xlabel() == "epoch"
        ...     # fig.savefig("fit.png")
        """
        from ._plot import plot_history
        return plot_history(self, fig=fig, ax=ax, title=title, label=label,
                            x=x, logy=logy, **line_kw)


def readable(x):
    """A count or rate with 3 significant digits and a k/M/G suffix, as
    progress bars and reprs print them.

    Parameters
    ----------
    x : float or int
        The number (e.g. samples per second).

    Returns
    -------
    str
        ``x`` rounded to 3 significant digits, scaled by 10^3, 10^6 or 10^9
        with the suffix ``k``, ``M`` or ``G`` when it is that large.

    Examples
    --------
    >>> from jitmlp.trainer import readable
    >>> readable(879123), readable(1234567), readable(12.5), readable(999999)
    ('879k', '1.23M', '12.5', '1M')
    """
    x = float(f"{float(x):.3g}")
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= scale:
            return f"{x / scale:.3g}{unit}"
    return f"{x:.3g}"


# steps per kernel call are chosen so that a call takes about this long: Ctrl-C
# is then answered within a fraction of a second, and the Python between calls
# (~20 us) costs < 0.1 % (measured in tests/test_reliability.py)
_CHUNK_SECONDS = 0.1
# validation rows per kernel call between Ctrl-C checks: at most this many,
# and at most _VALIDATION_MACS multiply-adds (~0.1 s on one core here; a
# 1024-2048-2048-10 net took 2.1 s for 16384 rows)
_VALIDATION_BLOCK = 16384
_VALIDATION_MACS = 2 ** 32
# the bar redraws at most this often (tqdm's default); chunks come ~0.1 s apart
_BAR_MININTERVAL = 0.1


class Trainer:
    """Mini-batch training of an :class:`MLP` with an optimizer.

    Parameters
    ----------
    model : MLP
    optimizer : Optimizer (SGD, Adam, AdamW, RMSprop, Adagrad)
    batch_size : int >= 1 (clamped, with a warning, to the number of samples)
    epochs : int >= 1
    shuffle : bool
        A fresh seeded order every epoch (else the data order).
    schedule : Schedule or None
        Learning rate of every optimizer step (None: constant ``optimizer.lr``).
    seed : int or None
        Same seed, same thread count: bitwise the same result.
    sampling : {"epoch", "uniform"}
        "epoch": every sample once per epoch; "uniform": each step draws its
        batch uniformly with replacement (ceil(n / batch_size) steps an epoch).
    clip_grad_norm : float or None
        Rescale the gradient to this global L2 norm when it is larger.
    validation_split : float in [0, 1)
        Hold out this fraction (seeded random rows) when ``validation_data``
        is not given.
    early_stopping : bool
        Stop after ``patience`` epochs without an improvement of at least
        ``min_delta`` in val_loss (loss without validation data);
        ``restore_best_weights`` then restores the best epoch's parameters.
    patience : int >= 1
        Epochs without improvement before early stopping.
    min_delta : float >= 0
        The smallest decrease of the monitored loss that counts as an
        improvement (in the loss's units).
    restore_best_weights : bool
        With ``early_stopping``, end with the parameters (and running
        statistics) of the best epoch.
    callbacks : sequence of callables ``f(trainer, history) -> bool``
        Called after each epoch; returning True stops training.
    verbose : bool
        A tqdm progress bar (``pip install jitmlp[progress]``), else lines.
    track_grad_norms : bool
        Record each layer's gradient norm in ``History.grad_norms``.
    comm : mpi4py communicator or None
        Synchronous data-parallel training over the ranks of ``comm`` (e.g.
        ``MPI.COMM_WORLD``): each rank passes its own rows to :meth:`fit`
        and :meth:`step` (both collective), gradients are combined weighted
        by rows, BatchNorm statistics are those of the global batch, and
        every rank ends every step with the same parameters.  See the
        README, "Training on several processes or machines".

    Raises
    ------
    ValueError, TypeError
        A setting out of its range or of the wrong type (named), or a
        ``comm`` that is not an mpi4py communicator.

    Examples
    --------
    >>> import jitmlp as jm
    >>> X, y = jm.datasets.make_spirals(600, n_classes=3, seed=0)
    >>> model = jm.MLP([2, 32, 3], loss="cross_entropy", seed=0)
    >>> trainer = jm.Trainer(model, jm.Adam(lr=1e-2), batch_size=32,
    ...                      epochs=3, seed=0)
    >>> hist = trainer.fit(X, y, validation_data=(X[:100], y[:100]))
    >>> len(hist), trainer.optimizer.t       # epochs, steps of 32 rows
    (3, 57)
    >>> loss_before = trainer.step(X[:32], y[:32])   # one more update
    >>> trainer.optimizer.t
    58
    """

    _chunk = 1    # steps in the next kernel call; adapted to ~0.1 s per call
    _chunk_key = None   # (model, batch size, dtype, sparse) _chunk is for
    _last_run = (0, None, None, 0.0)   # (steps, losses, norms, s) of _run

    def __init__(self, model, optimizer, *, batch_size=32, epochs=10,
                 shuffle=True, schedule=None, seed=None, sampling="epoch",
                 clip_grad_norm=None, validation_split=0.0,
                 early_stopping=False, patience=10, min_delta=0.0,
                 restore_best_weights=True, callbacks=(), verbose=False,
                 track_grad_norms=True, comm=None):
        if seed is None:
            seed = int(np.random.SeedSequence().entropy % (2 ** 63))
        self.model = model
        self.optimizer = optimizer
        self.batch_size = batch_size
        self.epochs = epochs
        self.shuffle = shuffle
        self.schedule = schedule
        self.seed = seed
        self.sampling = sampling
        self.clip_grad_norm = clip_grad_norm
        self.validation_split = validation_split
        self.early_stopping = early_stopping
        self.patience = patience
        self.min_delta = min_delta
        self.restore_best_weights = restore_best_weights
        self.callbacks = callbacks
        self.verbose = verbose
        self.track_grad_norms = track_grad_norms
        self._check_settings()
        self.epoch = 0          # epochs completed over all fits
        self.history = History()
        self._grad = None
        if comm is not None:
            from ._distributed import check_comm
            check_comm(comm)
        self.comm = comm
        self._synced = False    # start-up broadcast done (comm only)

    @property
    def is_root(self):
        """True on rank 0 of ``comm`` (and always without one): the process
        that should save models and print.

        Examples
        --------
        >>> import jitmlp as jm
        >>> trainer = jm.Trainer(jm.MLP([2, 1]), jm.SGD())
        >>> if trainer.is_root:
        ...     print("rank 0 or a single process")
        rank 0 or a single process
        """
        return self.comm is None or self.comm.rank == 0

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_grad"] = None  # scratch, rebuilt on demand
        state["comm"] = None   # communicators do not pickle
        state["_synced"] = False
        state.pop("_runner", None)
        state.pop("_gov", None)   # timings of this machine and process
        state.pop("_checked_settings", None)   # ids of this process
        return state

    @property
    def _governor(self):
        """This trainer's :class:`~jitmlp._threads.ThreadGovernor`."""
        gov = self.__dict__.get("_gov")
        if gov is None:
            gov = self.__dict__["_gov"] = ThreadGovernor()
        return gov

    def _check_settings(self):
        """Check (and normalise) every setting; the constructor, fit and step
        call this, so that an attribute set between fits is checked too.
        Raises TypeError/ValueError naming the setting; changes nothing else.
        Settings unchanged since the last check (compared by type and value,
        objects by identity) are not checked again: Trainer.step calls this
        every step.
        """
        snap = self._settings_snapshot()
        last = self.__dict__.get("_checked_settings")
        if last is not None and snap[1] is not None and last[1] == snap[1] \
                and len(last[0]) == len(snap[0]) \
                and all(a is b for a, b in zip(last[0], snap[0])):
            return
        if not isinstance(self.model, MLP):
            raise TypeError(f"model must be a jitmlp.MLP; got "
                            f"{type(self.model).__name__}")
        if not isinstance(self.optimizer, Optimizer):
            raise TypeError(f"optimizer must be a jitmlp optimizer (SGD, Adam,"
                            f" AdamW, RMSprop, Adagrad); got "
                            f"{type(self.optimizer).__name__}")
        if self.schedule is None:
            self.schedule = Constant()
        if not isinstance(self.schedule, Schedule):
            raise TypeError(f"schedule must be a jitmlp.schedules.Schedule or "
                            f"None; got {self.schedule!r}")
        seed = self.seed
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
            raise TypeError(f"seed must be an integer or None; got {seed!r}")
        if seed < 0:
            raise ValueError(f"seed must be >= 0; got {seed}")
        callbacks = list(self.callbacks)
        for cb in callbacks:
            if not callable(cb):
                raise TypeError(f"callbacks must be callables; got {cb!r}")
        checked = dict(
            batch_size=V.positive_int("batch_size", self.batch_size),
            epochs=V.positive_int("epochs", self.epochs),
            seed=int(seed),
            sampling=V.choice("sampling", self.sampling,
                              ("epoch", "uniform")),
            clip_grad_norm=(None if self.clip_grad_norm is None else
                            V.real("clip_grad_norm", self.clip_grad_norm,
                                   low=0.0, low_open=True)),
            validation_split=V.real("validation_split",
                                    self.validation_split, low=0.0, high=1.0,
                                    high_open=True),
            patience=V.positive_int("patience", self.patience),
            min_delta=V.real("min_delta", self.min_delta, low=0.0),
            callbacks=callbacks)
        for name in ("shuffle", "early_stopping", "restore_best_weights",
                     "verbose", "track_grad_norms"):
            value = getattr(self, name)
            if not isinstance(value, (bool, np.bool_)):
                raise TypeError(f"{name} must be a bool; got {value!r}")
            checked[name] = bool(value)
        self.__dict__.update(checked)
        self.__dict__["_checked_settings"] = self._settings_snapshot()

    _SETTINGS = ("batch_size", "epochs", "seed", "sampling", "clip_grad_norm",
                 "validation_split", "patience", "min_delta", "shuffle",
                 "early_stopping", "restore_best_weights", "verbose",
                 "track_grad_norms")

    def _settings_snapshot(self):
        """What _check_settings checks: (objects, compared by identity;
        settings by type and value: True == 1, but a bool batch size is an
        error)."""
        d = self.__dict__
        cbs = d.get("callbacks")
        objects = (d.get("model"), d.get("optimizer"), d.get("schedule"),
                   cbs) + (tuple(cbs) if isinstance(cbs, list) else ())
        return objects, V.settings_key({k: d.get(k) for k in self._SETTINGS})

    def __setstate__(self, state):
        state.setdefault("comm", None)
        state.setdefault("_synced", False)
        self.__dict__.update(state)

    # ---------------------------------------------------- data parallelism
    def _check_comm_features(self, weighted, X=None):
        """What the data-parallel path does not do yet, refused before any
        collective (every rank raises the same error)."""
        if weighted:
            raise ValueError("sample_weight is not supported with comm yet")
        if self.model.norm == "batch" and isinstance(X, CSRRows):
            raise ValueError("sparse X with norm='batch' is not supported "
                             "with comm yet; pass X.toarray()")
        if any(r > 0 for r in np.atleast_1d(self.model.dropout)):
            raise ValueError("dropout is not supported with comm yet (masks "
                             "would repeat across ranks)")

    def _sync_start(self, settings):
        """Collective start of a fit or step with ``comm``: check that the
        ranks agree on the settings, then broadcast the state of rank 0."""
        from . import _distributed as D
        m = self.model
        D.agree(self.comm, "the model, optimizer or trainer settings",
                (m.params.size, str(m.dtype), tuple(m.sizes), m.norm,
                 type(self.optimizer).__name__, self.batch_size,
                 self.sampling, self.shuffle) + tuple(settings))
        D.broadcast_state(self.comm, self)
        self._synced = True
        runner = getattr(self, "_runner", None)
        if runner is None or runner.P != m.params.size \
                or runner.buf.dtype != m.dtype:
            self._runner = D.StepRunner(self)
        return D

    # ------------------------------------------------------------- resuming
    def state_dict(self):
        """Epoch count, optimizer and schedule state: with the model's state
        this resumes training bit-identically.

        Returns
        -------
        dict
            ``{"epoch": int, "seed": int, "optimizer":
            Optimizer.state_dict(), "schedule": Schedule.state_dict()}``;
            the optimizer's buffers are copies.

        Examples
        --------
        >>> import numpy as np, jitmlp as jm
        >>> X = np.random.default_rng(0).standard_normal((32, 2))
        >>> trainer = jm.Trainer(jm.MLP([2, 4, 1], seed=0), jm.Adam(),
        ...                      batch_size=16, epochs=1, seed=0)
        >>> _ = trainer.fit(X, X[:, 0])
        >>> sd = trainer.state_dict()
        >>> sd["epoch"], sd["seed"], sd["optimizer"]["t"], sd["schedule"]
        (1, 0, 2, {})
        """
        return {"epoch": self.epoch, "seed": self.seed,
                "optimizer": self.optimizer.state_dict(),
                "schedule": self.schedule.state_dict()}

    def load_state_dict(self, state):
        """Restore what :meth:`state_dict` returned.

        Parameters
        ----------
        state : dict
            ``{"epoch", "seed", "optimizer", "schedule"}`` as returned by
            :meth:`state_dict`.

        Raises
        ------
        ValueError, TypeError
            A missing or malformed entry; nothing is changed then.

        Examples
        --------
        Resume a run from a checkpoint of the model and the trainer:

        >>> import numpy as np, jitmlp as jm
        >>> X = np.random.default_rng(0).standard_normal((32, 2))
        >>> model = jm.MLP([2, 4, 1], seed=0)
        >>> trainer = jm.Trainer(model, jm.Adam(), batch_size=16, epochs=1,
        ...                      seed=0)
        >>> _ = trainer.fit(X, X[:, 0])
        >>> ckpt = model.copy(), trainer.state_dict()
        >>> again = jm.Trainer(ckpt[0], jm.Adam(), batch_size=16, epochs=1)
        >>> again.load_state_dict(ckpt[1])
        >>> _ = trainer.fit(X, X[:, 0]); _ = again.fit(X, X[:, 0])
        >>> bool(np.array_equal(model.params, again.model.params))
        True
        """
        if not isinstance(state, dict):
            raise TypeError(f"state must be a dict; got {type(state).__name__}")
        need = ("epoch", "seed", "optimizer", "schedule")
        missing = [k for k in need if k not in state]
        if missing:
            raise ValueError(f"trainer state is missing {missing}")
        extra = sorted(set(state) - set(need))
        if extra:
            raise ValueError(f"trainer state has unexpected entries {extra}")
        epoch = V.positive_int("state['epoch']", state["epoch"], minimum=0)
        seed = V.positive_int("state['seed']", state["seed"], minimum=0)
        before = self.optimizer.state_dict()
        with Atomic():   # all of it or (on an error) none of it
            self.optimizer.load_state_dict(state["optimizer"])
            try:
                self.schedule.load_state_dict(state["schedule"])
            except BaseException:
                self.optimizer.load_state_dict(before)
                raise
            self.epoch = epoch
            self.seed = seed

    def reset(self):
        """Start over: optimizer moments, step count, epoch count, history and
        the schedule's state (ReduceOnPlateau's reduced rate).  The model's
        parameters stay as they are.

        Examples
        --------
        >>> import numpy as np, jitmlp as jm
        >>> X = np.random.default_rng(0).standard_normal((32, 2))
        >>> trainer = jm.Trainer(jm.MLP([2, 1], seed=0), jm.SGD(lr=0.01),
        ...                      batch_size=16, epochs=2, seed=0)
        >>> _ = trainer.fit(X, X[:, 0])
        >>> trainer.epoch, trainer.optimizer.t
        (2, 4)
        >>> trainer.reset()
        >>> trainer.epoch, trainer.optimizer.t, len(trainer.history)
        (0, 0, 0)
        """
        with Atomic():
            self.optimizer.reset()
            self.schedule.reset()
            self.epoch = 0
            self.history = History()

    # ------------------------------------------------------------- helpers
    def _gradient_buffer(self):
        m = self.model
        if self._grad is None or self._grad.shape != m.params.shape \
                or self._grad.dtype != m.dtype:
            self._grad = np.zeros_like(m.params)
        return self._grad

    def _lrs(self, t0, steps):
        if type(self.schedule) is Constant:  # the common case, kept cheap
            return np.full(steps, self.optimizer.lr)
        lrs = self.schedule.values(np.arange(t0, t0 + steps, dtype=np.int64),
                                   self.optimizer.lr)
        lrs = np.ascontiguousarray(lrs, dtype=np.float64)
        if lrs.shape != (steps,) or not np.all(np.isfinite(lrs)) \
                or np.any(lrs < 0):
            raise ValueError(f"the schedule produced an invalid learning rate "
                             f"near step {t0}")
        return lrs

    def _run(self, X, Y, order, batch_size, lrs, stride, stop_flag=None,
             on_chunk=None):
        """Train one epoch (or one step) in chunks of steps of ~0.1 s each.

        After every chunk the optimizer's step count matches the parameters;
        between chunks ``stop_flag.hit`` (Ctrl-C) ends the epoch early.
        Returns (steps done, step losses, grad-norm sums, stop code, seconds).
        """
        m = self.model
        opt = self.optimizer
        # the first layer of a sparse X runs in plain loops (thread-free):
        # only the dense layers' products need the governor's check
        sparse = isinstance(X, CSRRows)
        widths = m.sizes[1:] if sparse else m.sizes
        net, ws, X = m._kernel_inputs(X, batch_size, Y.shape[1])
        hy = opt.hyper()
        st = opt._state_tuple(m.dtype)
        steps = lrs.shape[0]
        out = EpochOut(step_loss=np.zeros(steps, np.float64),
                       gnorm_acc=np.zeros(m._layout.table.shape[0] + 1,
                                          np.float64),
                       info=np.zeros(2, np.int64))
        grad = self._gradient_buffer()
        t0 = opt.t
        # the kernel with the parallel update only for models whose buffer
        # has a segment long enough to split (it compiles separately)
        big = m._layout.longest_segment >= PARALLEL_MIN
        kern = train_epoch_parallel if big and numba.get_num_threads() > 1 \
            else train_epoch
        helper = None
        if _compile.notice(kern, "training", m.dtype) and self.comm is None:
            # an empty cache: a second process compiles the leaf kernels
            # meanwhile (see _precompile.py); not beside MPI ranks, which
            # have the cores already
            helper = _precompile.start(m.dtype, sparse)
        gov = self._governor
        n = order.shape[0]
        sizes = batch_sizes(n, int(batch_size), steps)
        # a new model, batch size or kind of input: the first kernel call
        # runs one step, then calls grow 8x a time to ~_CHUNK_SECONDS (a
        # size kept from batches of 8 made a call of batch 2048 run 4.8 s)
        ck = (id(m), int(batch_size), m.dtype, sparse)
        if ck != self._chunk_key:
            self._chunk_key, self._chunk = ck, 1
        try:
            # the governor's product check (it may compile) out of the
            # section below, where a Ctrl-C of a fit acts at once; start
            # registers first, in a section of its own, and stop undoes it
            with AtOnce(stop_flag):
                gov.start((id(m), widths, m.dtype, tuple(sizes)), widths,
                          sizes, m.dtype)
            # from here to the thread counts put back, Ctrl-C is held and
            # handed on at the end (after the kernel call it came in, with
            # every count and record in agreement): no kernel call can be
            # split from the step count it leaves, nor the thread counts
            # from their restoring
            with Atomic() as section:
                try:
                    return self._chunks(net, hy, st, grad, ws, X, Y, order,
                                        batch_size, lrs, stride, out, t0,
                                        gov, stop_flag, on_chunk, big,
                                        section)
                finally:
                    gov.stop()
                    _precompile.stop(helper)
        except BaseException:
            gov.stop()                  # (both do nothing the second time)
            _precompile.stop(helper)
            raise

    def _chunks(self, net, hy, st, grad, ws, X, Y, order, batch_size, lrs,
                stride, out, t0, gov, stop_flag, on_chunk, big, section):
        """The chunk loop of :meth:`_run`; the governor picks each chunk's
        thread count (results do not depend on it)."""
        opt = self.optimizer
        # what decides the kernels' argument types (typing them: ~0.6 ms)
        ckey = (self.model.dtype, type(X), getattr(X, "dtype", None),
                Y.dtype)
        steps = lrs.shape[0]
        s = 0
        secs = 0.0
        while s < steps:
            n_threads, chunk = gov.next_chunk(self._chunk)
            end = min(steps, s + chunk)
            plan = EpochPlan(order=order, batch_size=int(batch_size), lrs=lrs,
                             t0=int(t0),
                             clip=float(self.clip_grad_norm or 0.0),
                             gnorm_stride=int(stride),
                             n_threads=int(n_threads),
                             s_begin=int(s), s_end=int(end))
            kern = train_epoch_parallel if big and n_threads > 1 \
                else train_epoch
            if not _compile.ready(kern, ckey):
                # the kernel's first call in this process (the first chunk,
                # or the governor's first probe of one thread): compiled
                # (or loaded) here, where the state is whole and a Ctrl-C
                # acts at once, and out of the chunk's timing
                with section.opened(), AtOnce(stop_flag):
                    _compile.ensure(kern, ckey, lambda: (
                        net, hy, st, grad, ws, X, Y, plan, out))
            tic = time.perf_counter()
            cpu0 = time.process_time()
            out.info[1] = s
            try:
                kern(net, hy, st, grad, ws, X, Y, plan, out)
            finally:
                # read back from the kernel's record, so that an error in
                # the call still leaves the step count and the parameters in
                # agreement (and fit can record the steps)
                done = int(out.info[1])
                elapsed = time.perf_counter() - tic
                cpu = time.process_time() - cpu0
                secs += elapsed
                opt.t = t0 + done
                self._last_run = (done, out.step_loss, out.gnorm_acc, secs)
            if done < end:
                return done, out.step_loss, out.gnorm_acc, int(out.info[0]), \
                    secs
            probing = gov.probe is not None
            gov.record(elapsed, end - s, cpu)
            if not probing:
                # next chunk: ~_CHUNK_SECONDS of work, growing at most 8x
                per_step = elapsed / (end - s)
                self._chunk = int(max(1, min(
                    8 * (end - s), _CHUNK_SECONDS / max(per_step, 1e-9))))
            s = end
            if on_chunk is not None:
                on_chunk(s, out.step_loss)
            # Ctrl-C: before this call (the fit's flag) or during it (held)
            if s < steps and (section.held or (stop_flag is not None
                                               and stop_flag.hit)):
                return s, out.step_loss, out.gnorm_acc, 0, secs
        return steps, out.step_loss, out.gnorm_acc, 0, secs

    @staticmethod
    def _why(code, loss):
        return {C.STOP_LOSS: f"the batch loss is {loss}",
                C.STOP_GRAD: "the gradient norm is not finite",
                C.STOP_UPDATE: "the update made parameters non-finite (step "
                               "undone; the optimizer's moments restart from "
                               "zero)",
                C.STOP_STATS: "the BatchNorm running statistics would "
                              "become non-finite",
                }.get(code, "training diverged")

    # ------------------------------------------------------------- training
    def step(self, X_batch, y_batch, sample_weight=None):
        """Exactly one optimizer step on exactly this batch, in training mode.

        The model stays in training mode; BatchNorm running statistics move
        once.  Dropout uses the masks of optimizer step ``t`` (the same as
        :meth:`fit` on the same batches).  With ``comm`` this is collective:
        the step is one step on the concatenation of every rank's batch.

        Parameters
        ----------
        X_batch : array_like or scipy.sparse matrix of shape (B, d)
        y_batch : array_like
            Targets as for :meth:`MLP.loss` (B rows).
        sample_weight : array_like of shape (B,), optional
            Finite, >= 0, not all zero: the batch loss is then
            ``sum_i w_i l_i / sum_i w_i``.

        Returns
        -------
        float
            The batch loss before the update.

        Raises
        ------
        DivergenceError
            The loss, the gradient or the updated parameters are not finite;
            no update was made (parameters and running statistics unchanged).
        ValueError, TypeError
            Invalid data (named), or BatchNorm with a batch of one row.

        Examples
        --------
        >>> import numpy as np, jitmlp as jm
        >>> X = np.random.default_rng(0).standard_normal((8, 2))
        >>> trainer = jm.Trainer(jm.MLP([2, 1], seed=0), jm.SGD(lr=0.1))
        >>> first = trainer.step(X, X[:, 0])
        >>> second = trainer.step(X, X[:, 0])
        >>> trainer.optimizer.t, second < first
        (2, True)
        """
        self._check_settings()
        m = self.model
        X = m._check_X(X_batch)
        Y = m._check_yw(y_batch, X.shape[0], sample_weight)
        B = X.shape[0]
        if self.comm is not None:
            self._check_comm_features(sample_weight is not None, X)
            return self._step_comm(X, Y, B)
        if m.norm == "batch" and B < 2:
            raise ValueError(V.BN_TWO_ROWS + f"; this batch has {B}")
        self.optimizer.bind(m)
        lrs = self._lrs(self.optimizer.t, 1)
        m.train()
        done, step_loss, _, code, _ = self._run(
            X, Y, np.arange(B, dtype=np.int64), B, lrs, 0)
        if done < 1:
            raise DivergenceError(f"{self._why(code, step_loss[0])} on this "
                                  f"batch; no update was made", self.epoch, 0,
                                  None)
        return float(step_loss[0])

    def _step_comm(self, X, Y, B):
        """Trainer.step with ``comm``: collective; each rank its own rows
        (counts may differ), the global batch is their concatenation."""
        m = self.model
        self.optimizer.bind(m)
        if not self._synced:
            self._sync_start(())
        rows = np.array([self.comm.allgather(int(B))], np.int64)
        N = int(rows.sum())
        if N < 1 or (m.norm == "batch" and N < 2):
            raise ValueError(V.BN_TWO_ROWS + f"; the global batch has {N}"
                             if N else "the global batch has no rows")
        lrs = self._lrs(self.optimizer.t, 1)
        m.train()
        with Atomic():   # Ctrl-C before the step or after its count
            done, step_loss, _, code, _ = self._runner.run(
                X, Y, np.arange(B, dtype=np.int64), rows, lrs, 0)
        if done < 1:
            raise DivergenceError(f"{self._why(code, step_loss[0])} on this "
                                  f"batch; no update was made", self.epoch, 0,
                                  None)
        return float(step_loss[0])

    def _split(self, X, Y):
        n = X.shape[0]
        n_val = int(math.floor(n * self.validation_split))
        if n_val < 1 or n - n_val < 1:
            raise ValueError(f"validation_split={self.validation_split} leaves "
                             f"{n - n_val} training and {n_val} validation "
                             f"samples of {n}")
        perm = np.random.default_rng([self.seed, 2 ** 31 - 1]).permutation(n)
        tr, va = np.sort(perm[n_val:]), np.sort(perm[:n_val])
        return X[tr], Y[tr], X[va], Y[va]

    def fit(self, X, y, validation_data=None, *, epochs=None, reset=False,
            sample_weight=None):
        """Train for ``epochs`` (default: the constructor's) more epochs.

        Continues where the last fit stopped (optimizer state, step count,
        epoch count) unless ``reset=True``.  The model is left in evaluation
        mode.

        With ``comm`` this is collective: every rank calls it with its own
        rows (and its own validation rows, or none on every rank); rank 0's
        parameters, statistics and optimizer state are broadcast first.

        Parameters
        ----------
        X : array_like or scipy.sparse matrix of shape (n, d)
            Training inputs (converted to the model's dtype).
        y : array_like
            Targets, as for :meth:`MLP.loss`.
        validation_data : (X_val, y_val) or None
            Scored in evaluation mode after every epoch (``val_loss``, and
            ``val_accuracy`` for classification losses).
        epochs : int, optional
            Epochs of this call (default: the constructor's).
        reset : bool
            Start over (:meth:`reset`) first.
        sample_weight : array_like of shape (n,), optional
            Finite, >= 0, not all zero.  Each batch's loss is then
            ``sum_i w_i l_i / sum_i w_i`` (rows of weight 0 have no effect on
            the gradient), the epoch's ``loss`` the weighted mean over the
            epoch.  A batch whose weights sum to 0 is skipped: no update
            (parameters, optimizer state and running statistics stay), but
            it counts as a step (the step count ``t``, the schedule and the
            dropout masks move on as if it had been made).  Validation
            (``validation_data`` or ``validation_split``) is unweighted.
            With BatchNorm, rows of weight 0 still enter the batch
            statistics (as in PyTorch, where weights scale the loss only).

        Returns
        -------
        History
            The epochs of this call; ``trainer.history`` accumulates over
            calls (also when the call ends with an exception).

        Raises
        ------
        DivergenceError
            A step produced a non-finite loss, gradient, parameter or running
            statistic.  That step was refused: the parameters and statistics
            are those of the last finite step.
        KeyboardInterrupt
            Ctrl-C: training stops after the current kernel call (~0.1 s;
            at once in a first compile or a callback); parameters,
            ``optimizer.t``, ``trainer.epoch`` and the history agree (the
            interrupted epoch is recorded with the steps it made, NaN
            validation entries), and ``fit`` can be called again to go on
            with the next epoch.  With a SIGINT handler of your own, that
            handler is called once instead and ``fit`` returns.
        ValueError, TypeError
            Invalid data or settings, before anything changes.

        Examples
        --------
        >>> import numpy as np, jitmlp as jm
        >>> X, y = jm.datasets.make_spirals(300, n_classes=3, seed=0)
        >>> model = jm.MLP([2, 16, 3], loss="cross_entropy", seed=0)
        >>> trainer = jm.Trainer(model, jm.Adam(lr=1e-2), batch_size=50,
        ...                      epochs=2, seed=0)
        >>> hist = trainer.fit(X[:250], y[:250],
        ...                    validation_data=(X[250:], y[250:]))
        >>> hist.epoch, hist.steps, len(hist.val_accuracy)
        ([0, 1], [5, 5], 2)
        >>> more = trainer.fit(X[:250], y[:250], epochs=1)  # continues
        >>> more.epoch, trainer.epoch, model.training
        ([2], 3, False)

        A run that blows up raises, with the last finite parameters kept:

        >>> try:
        ...     jm.Trainer(jm.MLP([2, 1], seed=0), jm.SGD(lr=1e30),
        ...                epochs=1, seed=0).fit(X * 1e10, y)
        ... except jm.DivergenceError as e:
        ...     print(type(e).__name__, e.history.diverged)
        DivergenceError True
        """
        self._check_settings()
        # hyper-parameters before anything (reset=True clears state)
        self.optimizer._check_hyper()
        m = self.model
        n_epochs = self.epochs if epochs is None else V.positive_int(
            "epochs", epochs)
        X = m._check_X(X)
        Y = m._check_yw(y, X.shape[0], sample_weight)
        weighted = sample_weight is not None
        Xv = Yv = None
        if validation_data is not None:
            try:
                xv, yv = validation_data
            except (TypeError, ValueError):
                raise ValueError("validation_data must be a pair (X_val, "
                                 "y_val)") from None
            Xv = m._check_X(xv, name="X_val")
            Yv = m._check_y(yv, Xv.shape[0], name="y_val")
        elif self.validation_split > 0:
            X, Y, Xv, Yv = self._split(X, Y)
            if weighted:     # validation is unweighted
                Yv = np.ascontiguousarray(Yv[:, :-1])
                if not (Y[:, -1] > 0).any():
                    raise ValueError("sample_weight is all zero on the "
                                     "training rows left by "
                                     "validation_split")
        n = X.shape[0]
        batch = self.batch_size
        comm = self.comm
        rows = None
        if comm is not None:
            self._check_comm_features(weighted, X)
            if reset:
                self.reset()
            self.optimizer.bind(m)
            D = self._sync_start((n_epochs, Xv is not None))
            rows = D.rows_table(comm, n, batch, self.sampling)
            if m.norm == "batch" and rows.sum(axis=1).min() < 2:
                raise ValueError(
                    V.BN_TWO_ROWS + f"; batch_size={batch} with "
                    f"{rows[0].tolist()} rows per rank leaves a global batch "
                    f"of 1")
        elif batch > n:
            warnings.warn(f"batch_size={batch} is larger than the {n} training "
                          f"samples; using {n}", stacklevel=2)
            batch = n
        if m.norm == "batch" and comm is None:
            last = n % batch
            if batch < 2 or (self.sampling == "epoch" and last == 1):
                raise ValueError(
                    V.BN_TWO_ROWS + f"; batch_size={batch} with {n} samples "
                    f"leaves a batch of 1")
        if reset and comm is None:
            self.reset()
        self.optimizer.bind(m)
        classify = m._loss.classify
        hist = History()
        steps = -(-n // batch) if rows is None else rows.shape[0]
        stride = max(1, steps // 64) if self.track_grad_norms else 0
        monitor_best = math.inf
        best_state = None
        bad_epochs = 0
        bar = self._progress(n_epochs, steps)
        last = self.epoch + n_epochs
        with DeferredInterrupt() as ctrl_c:
            user_handler = ctrl_c.user_handler
            try:
                for _ in range(n_epochs):
                    e = self.epoch
                    rng = np.random.default_rng(
                        [self.seed, e] if comm is None else
                        [self.seed, comm.rank, e])
                    if self.sampling == "uniform":
                        order = rng.integers(0, n, steps * batch,
                                             dtype=np.int64)
                    elif self.shuffle:
                        order = rng.permutation(n).astype(np.int64)
                    else:
                        order = np.arange(n, dtype=np.int64)
                    lrs = self._lrs(self.optimizer.t, steps)
                    m.train()
                    on_chunk = (None if bar is None else
                                self._chunk_reporter(bar, e, last, n, batch))
                    # the sum of the sample weights of every batch
                    wb = (np.add.reduceat(
                        Y[order, -1].astype(np.float64),
                        np.arange(0, order.shape[0], batch))
                        if weighted else None)
                    self._last_run = (0, None, None, 0.0)
                    try:
                        if comm is None:
                            done, step_loss, gn, code, secs = self._run(
                                X, Y, order, batch, lrs, stride, ctrl_c,
                                on_chunk)
                        else:
                            done, step_loss, gn, code, secs = \
                                self._runner.run(X, Y, order, rows, lrs,
                                                 stride, ctrl_c, on_chunk)
                            # the slowest rank's time: the same History
                            secs = comm.allreduce(secs, op=D._mpi().MAX)
                    except BaseException as exc:
                        # raised at once (Ctrl-C in a compile, a handler of
                        # the user's raising SystemExit there, an error):
                        # keep the steps made on record
                        done, step_loss, gn, secs = self._last_run
                        if done > 0 and comm is None:
                            self._record(hist, e, done, step_loss, gn, lrs,
                                         secs, n, batch, stride,
                                         batch_weights=wb)
                            self._no_validation(hist, Xv, classify)
                            self.epoch += 1
                        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                            hist.interrupted = True
                        raise
                    # (no Ctrl-C raises from here to the callbacks: the
                    # DeferredInterrupt records it, so each History entry
                    # and trainer.epoch change together)
                    m.eval()
                    if done > 0:
                        self._record(hist, e, done, step_loss, gn, lrs, secs,
                                     n, batch, stride,
                                     None if rows is None else
                                     rows[:done].sum(axis=1), wb)
                        if code or done < steps:   # no validation pass
                            self._no_validation(hist, Xv, classify)
                        self.epoch += 1
                    if code:
                        hist.diverged = True
                        hist.diverged_epoch = e
                        raise DivergenceError(
                            f"training diverged: {self._why(code, step_loss[done])}"
                            f" at epoch {e} step {done}; the model keeps the "
                            f"parameters of the last finite step", e, done, hist)
                    if done < steps:  # Ctrl-C inside the epoch
                        hist.interrupted = True
                        break
                    monitored = hist.loss[-1]
                    if Xv is not None and comm is not None:
                        vl, va = self._val_comm(Xv, Yv, classify, D)
                        hist.val_loss.append(vl)
                        monitored = vl
                        if classify:
                            hist.val_accuracy.append(va)
                    elif Xv is not None:
                        vl, va = self._validate(Xv, Yv, classify, ctrl_c)
                        if vl is None:   # Ctrl-C during the validation pass
                            self._no_validation(hist, Xv, classify)
                            hist.interrupted = True
                            break
                        hist.val_loss.append(vl)
                        monitored = vl
                        if classify:
                            hist.val_accuracy.append(va)
                    self.schedule.observe(e, monitored)
                    stop = False
                    if self.early_stopping:
                        if monitored < monitor_best - self.min_delta:
                            monitor_best = monitored
                            hist.best_epoch = e
                            bad_epochs = 0
                            if self.restore_best_weights:
                                best_state = (m.params.copy(), m.stats.copy())
                        else:
                            bad_epochs += 1
                            if bad_epochs >= self.patience:
                                stop = True
                                hist.stopped_early = True
                    # callbacks may run long: a Ctrl-C acts in them at once
                    # (the epoch is on record by now)
                    with AtOnce(ctrl_c):
                        for cb in self.callbacks:
                            if cb(self, hist):
                                stop = True
                    if comm is not None:   # any rank's callback or Ctrl-C
                        flags = comm.allreduce(
                            (2 if ctrl_c.hit else 0) | (1 if stop else 0),
                            op=D._mpi().BOR)
                        stop = bool(flags & 1)
                        ctrl_c.hit = bool(flags & 2)
                    self._report(bar, hist, last)
                    if ctrl_c.hit:
                        hist.interrupted = True
                        break
                    if stop:
                        break
            finally:
                # whatever ended the call, the epochs it trained stay recorded
                if bar is not None:
                    bar.close()
                m.eval()
                if ctrl_c.hit:   # also one that raised in a callback
                    hist.interrupted = True
                self._append(hist)
                # (also when a callback's Ctrl-C ends the call after early
                # stopping fired in that epoch)
                if hist.stopped_early and best_state is not None:
                    m.params[...] = best_state[0]
                    m.stats[...] = best_state[1]
        # a Ctrl-C after the last check (or held by a section above) counts
        # too; a handler of the user's got it on leaving the block above,
        # Python's own gets a KeyboardInterrupt that says where training is
        if ctrl_c.hit:
            hist.interrupted = self.history.interrupted = True
        if hist.interrupted and not user_handler:
            where = f"after epoch {self.epoch - 1}"
            if hist.steps and hist.steps[-1] < steps:
                where = (f"in epoch {self.epoch - 1} after {hist.steps[-1]} "
                         f"of its {steps} steps")
            raise KeyboardInterrupt(
                f"training interrupted {where} (optimizer step "
                f"{self.optimizer.t}); trainer.history has the epochs "
                f"trained, and fit() goes on from here")
        return hist

    @staticmethod
    def _no_validation(hist, Xv, classify):
        """NaN validation entries for an epoch recorded without its
        validation pass (interrupted or diverged), so that every History
        list has an entry per epoch."""
        if Xv is not None:
            hist.val_loss.append(math.nan)
            if classify:
                hist.val_accuracy.append(math.nan)

    def _validate(self, Xv, Yv, classify, stop_flag):
        """(loss, accuracy) on the validation rows in evaluation mode, in
        blocks of rows so that Ctrl-C is answered within a block; (None,
        None) when it came."""
        m = self.model
        n = Xv.shape[0]
        total = 0.0
        correct = 0
        # rows per block from the multiply-adds a row costs (not from
        # timings: the summed loss must not depend on them)
        macs = int(np.dot(m.sizes[:-1], m.sizes[1:]))
        block = int(min(_VALIDATION_BLOCK, max(256, _VALIDATION_MACS //
                                               max(macs, 1))))
        for a in range(0, n, block):
            b = min(n, a + block)
            h, part = m._run_rows(Xv[a:b], Yv[a:b], m._loss_code, classify)
            total += part
            if classify:
                correct += int(np.count_nonzero(
                    m._loss.predict(h) == Yv[a:b, 0]))
            if stop_flag.hit and b < n:
                return None, None
        loss = float(m._finite_output("validation loss",
                                      np.array(total / n)))
        return loss, (correct / n if classify else None)

    def _val_comm(self, Xv, Yv, classify, D):
        """Validation loss and accuracy over all ranks' validation rows."""
        m = self.model
        nv = Xv.shape[0]
        acc = m.score(Xv, Yv) * nv if classify else 0.0
        tot = np.array([m.loss(Xv, Yv) * nv, nv, acc], np.float64)
        MPI = D._mpi()
        self.comm.Allreduce(MPI.IN_PLACE, tot, op=MPI.SUM)
        return float(tot[0] / tot[1]), float(tot[2] / tot[1])

    def _record(self, hist, e, done, step_loss, gn, lrs, secs, n, batch,
                stride, sizes=None, batch_weights=None):
        """One (possibly partial) epoch of ``done`` steps into ``hist``;
        ``sizes``: the global rows of every step (comm);
        ``batch_weights``: the sum of the sample weights of every batch."""
        if sizes is not None:   # global rows of every step (comm)
            sizes = np.asarray(sizes, np.float64)
        else:
            sizes = np.full(done, batch, np.float64)
            if self.sampling == "epoch" and done * batch > n:
                sizes[-1] = n - batch * (done - 1)
        hist.epoch.append(e)
        if batch_weights is None:
            hist.loss.append(float(np.dot(step_loss[:done], sizes)
                                   / sizes.sum()))
        else:
            wsum = batch_weights[:done].sum()
            hist.loss.append(float(np.dot(step_loss[:done],
                                          batch_weights[:done]) / wsum)
                             if wsum > 0 else 0.0)
        hist.lr.append(float(lrs[0]))
        hist.lr_steps.append(lrs[:done])
        hist.steps.append(int(done))
        hist.seconds.append(secs)
        hist.samples_per_second.append(sizes.sum() / max(secs, 1e-12))
        if stride:
            hist.grad_norms.append(gn[:-1] / max(gn[-1], 1.0))

    def _append(self, hist):
        for k in History.KEYS:
            getattr(self.history, k).extend(getattr(hist, k))
        self.history.lr_steps.extend(hist.lr_steps)
        self.history.stopped_early = hist.stopped_early
        self.history.best_epoch = hist.best_epoch
        self.history.interrupted = hist.interrupted
        self.history.diverged = hist.diverged
        self.history.diverged_epoch = hist.diverged_epoch

    def _progress(self, n_epochs, steps):
        """A tqdm bar over the optimizer steps of this fit (``verbose`` and
        tqdm installed), else None."""
        if not self.verbose:
            return None
        try:
            from tqdm.auto import tqdm
        except ImportError:
            return None
        import sys
        return tqdm(total=n_epochs * steps, unit="step",
                    file=sys.stderr, mininterval=_BAR_MININTERVAL,
                    dynamic_ncols=True)

    def _chunk_reporter(self, bar, e, last, n, batch):
        """``on_chunk`` of :meth:`_run` for epoch ``e``: advance the bar
        after each chunk of steps (~0.1 s) with the running mean of the
        epoch's batch losses and the samples per second so far."""
        tic = time.perf_counter()
        done = [0]
        bar.set_description(f"epoch {e + 1}/{last}", refresh=False)

        def report(s, step_loss):
            secs = max(time.perf_counter() - tic, 1e-9)
            seen = s * batch if self.sampling == "uniform" else min(s * batch,
                                                                     n)
            bar.set_postfix_str(f"loss {np.mean(step_loss[:s]):.4g}, "
                                f"{readable(seen / secs)} samples/s",
                                refresh=False)
            bar.update(s - done[0])
            done[0] = s
        return report

    def _report(self, bar, hist, last):
        """End of an epoch: the bar's postfix, or one printed line (epochs
        numbered from 1)."""
        if not self.verbose:
            return
        info = {"loss": f"{hist.loss[-1]:.4g}"}
        if hist.val_loss:
            info["val_loss"] = f"{hist.val_loss[-1]:.4g}"
        if hist.val_accuracy:
            info["val_acc"] = f"{hist.val_accuracy[-1]:.4f}"
        info["samples/s"] = readable(hist.samples_per_second[-1])
        if bar is not None:
            bar.set_postfix_str(", ".join(f"{k} {v}" for k, v in info.items()))
        else:
            print(f"epoch {hist.epoch[-1] + 1}/{last}: " + "  ".join(
                f"{k} {v}" for k, v in info.items()), flush=True)

    def __repr__(self):
        sched = "" if type(self.schedule) is Constant else \
            f", schedule={self.schedule!r}"
        return (f"Trainer({self.model!r}, {self.optimizer!r}, "
                f"batch_size={self.batch_size}, epochs={self.epochs}"
                f"{sched}, seed={self.seed}; {self.epoch} epochs trained)")
