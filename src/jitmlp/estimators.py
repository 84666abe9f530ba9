"""scikit-learn compatible estimators on top of :class:`MLP` and :class:`Trainer`.

Needs scikit-learn (``pip install jitmlp[test]`` or scikit-learn itself);
``jm.MLPClassifier`` and ``jm.MLPRegressor`` import it on first use.
Parameter names follow ``sklearn.neural_network``; ``alpha`` is the L2
weight decay on W (as in scikit-learn up to its 1/n_samples scaling: here the
loss is a mean, so ``alpha`` is the coefficient of ``0.5 * alpha * ||W||^2``
added to the mean loss), ``max_iter`` counts epochs.

As in scikit-learn: ``early_stopping=True`` holds out ``validation_fraction``
of the rows (stratified for classifiers, at least 2 rows), scores them after
every epoch (accuracy / R^2, ``validation_scores_``) and ends with the best
epoch's parameters whatever stopped training; ``partial_fit`` with
``early_stopping=True`` is a ValueError; ``partial_fit`` with ``classes``
other than the first call's is a ValueError.  ``batch_size`` ("auto" is
``min(200, n)``) counts the rows actually trained on.  With ``norm="batch"``
a training batch of 1 sample is never left: the batch size grows to the
smallest size that avoids it (warning only if an explicit ``batch_size`` is
changed).  ``X`` may be a scipy.sparse matrix (CSR or CSC; other formats
are converted to CSR once): it is trained on and predicted from its stored
entries, never as a dense ``(n, d)`` array.  pandas nullable columns are
accepted when they hold no missing values.
"""
import contextlib
import numbers
import time
import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.base import (BaseEstimator, ClassifierMixin, RegressorMixin,
                          is_classifier)
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import (check_classification_targets,
                                      type_of_target, unique_labels)
from sklearn.utils import check_random_state
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.validation import (_check_sample_weight, check_is_fitted,
                                      column_or_1d)

try:
    from sklearn.utils.validation import validate_data
except ImportError:  # scikit-learn < 1.6
    def validate_data(est, X, y="no_validation", reset=True, **kw):
        if isinstance(y, str) and y == "no_validation":
            return est._validate_data(X, reset=reset, **kw)
        return est._validate_data(X, y, reset=reset, **kw)

from . import _validation as V
from ._sparse import CSRRows
from ._threads import ThreadGovernor, batch_sizes
from .model import _GRAD_CHUNK, MLP
from .optim import SGD, Adam
from .trainer import Trainer
from .schedules import Schedule


# scipy.sparse formats taken as they are; any other is converted to the first
_SPARSE = ("csr", "csc")


class _BaseMLP(BaseEstimator):
    _loss = "squared"
    _fit_weights = None   # the sample weights of the fit in progress

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True   # CSR / CSC X, see jitmlp._sparse
        return tags

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *,
                 norm=None, residual=False, solver="adam", alpha=1e-4,
                 batch_size="auto", learning_rate_init=1e-3, max_iter=200,
                 shuffle=True, random_state=None, tol=1e-4, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False,
                 validation_fraction=0.1, n_iter_no_change=10,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, dtype="float64",
                 verbose=False, learning_rate="constant", power_t=0.5,
                 max_fun=15000, warm_start=False):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.norm = norm
        self.residual = residual
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.dtype = dtype
        self.verbose = verbose
        self.learning_rate = learning_rate
        self.power_t = power_t
        self.max_fun = max_fun
        self.warm_start = warm_start

    # ---------------------------------------------------------------- helpers
    def _seed(self):
        """random_state as the integer seed jitmlp takes (drawn once per fit)."""
        if isinstance(self.random_state, numbers.Integral):
            return int(self.random_state)
        return int(check_random_state(self.random_state).randint(2 ** 31 - 1))

    def _check_params(self):
        """scikit-learn's parameter constraints, checked before anything
        changes (fit and partial_fit call this first)."""
        self._hidden()
        V.positive_int("max_iter", self.max_iter)
        V.positive_int("n_iter_no_change", self.n_iter_no_change)
        V.real("tol", self.tol, low=0.0)
        V.real("alpha", self.alpha, low=0.0)
        V.real("learning_rate_init", self.learning_rate_init, low=0.0,
               low_open=True)
        V.real("validation_fraction", self.validation_fraction, low=0.0,
               high=1.0, low_open=True, high_open=True)
        V.real("momentum", self.momentum, low=0.0, high=1.0)
        V.real("beta_1", self.beta_1, low=0.0, high=1.0, high_open=True)
        V.real("beta_2", self.beta_2, low=0.0, high=1.0, high_open=True)
        V.real("epsilon", self.epsilon, low=0.0, low_open=True)
        V.choice("solver", self.solver, ("adam", "sgd", "lbfgs"))
        V.choice("learning_rate", self.learning_rate,
                 ("constant", "invscaling", "adaptive"))
        V.real("power_t", self.power_t, low=0.0)
        V.positive_int("max_fun", self.max_fun)
        if not isinstance(self.warm_start, (bool, np.bool_)):
            raise TypeError(f"warm_start must be a bool; got "
                            f"{self.warm_start!r}")
        if self.solver == "lbfgs" and self.norm == "batch":
            raise ValueError("solver='lbfgs' optimises the full-batch loss "
                             "and cannot keep BatchNorm's running statistics;"
                             " use norm='layer' or solver 'adam'/'sgd'")

    def _weights(self, X, y_enc, sample_weight, y_raw=None, partial=False):
        """Per-sample weights of this fit: ``sample_weight`` (checked) times
        the classifier's ``class_weight``; None when both are absent."""
        w = None
        if sample_weight is not None:
            w = _check_sample_weight(sample_weight, X, dtype=np.float64)
            if not np.isfinite(w).all() or (w < 0).any():
                raise ValueError("sample_weight must be finite and >= 0")
            if not w.any():
                raise ValueError("sample_weight is 0 for every sample")
        cw = getattr(self, "class_weight", None)
        if cw is not None:
            if partial and isinstance(cw, str):
                raise ValueError(f"class_weight={cw!r} is not supported by "
                                 f"partial_fit (the class frequencies of one "
                                 f"call are not those of the data); pass a "
                                 f"dict or use fit")
            per_class = compute_class_weight(cw, classes=self.classes_,
                                             y=y_raw)
            cw_rows = per_class[y_enc]
            w = cw_rows if w is None else w * cw_rows
            if not w.any():
                raise ValueError("class_weight and sample_weight give every "
                                 "sample weight 0")
        return w

    @contextlib.contextmanager
    def _weighted(self, w):
        """The sample weights of the fit in progress (None outside one)."""
        self._fit_weights = w
        try:
            yield
        finally:
            self._fit_weights = None

    def _partial(self, X, Y, n_outputs, first):
        """One epoch of partial_fit (the first call builds the network)."""
        if first:
            batch = self._batch(X.shape[0])
            self._make(X.shape[1], n_outputs, self._seed())
            return self._train(X, Y, 1, batch)
        return self._train(X, Y, 1)

    def _hidden(self):
        h = self.hidden_layer_sizes
        if isinstance(h, numbers.Integral) and not isinstance(h, bool):
            h = [h]
        h = list(h)
        if any(isinstance(k, (bool, np.bool_))
               or not isinstance(k, numbers.Integral) or k < 1 for k in h):
            raise ValueError(f"hidden_layer_sizes must be positive integers; "
                             f"got {self.hidden_layer_sizes!r}")
        return [int(k) for k in h]

    def _optimizer(self):
        if self.solver == "lbfgs":   # the trainer's, unused: scipy optimises
            return SGD(lr=self.learning_rate_init)
        if self.solver == "adam":
            return Adam(lr=self.learning_rate_init,
                        betas=(self.beta_1, self.beta_2), eps=self.epsilon,
                        weight_decay=self.alpha)
        if self.solver == "sgd":
            return SGD(lr=self.learning_rate_init, momentum=self.momentum,
                       nesterov=bool(self.nesterovs_momentum
                                     and self.momentum > 0),
                       weight_decay=self.alpha)
        raise ValueError(f"solver must be 'adam' or 'sgd'; got "
                         f"{self.solver!r}")

    # ---------------------------------------------- scikit-learn attributes
    # live views of the fitted network, as scikit-learn's lists of arrays
    @property
    def coefs_(self):
        """list of (n_in, n_out) arrays: the weight matrices, views into
        ``model_.params`` (writing them changes the model).

        Raises
        ------
        sklearn.exceptions.NotFittedError
            Before ``fit``.

        Examples
        --------
        >>> import numpy as np, jitmlp as jm
        >>> X = np.random.default_rng(0).normal(size=(40, 3))
        >>> reg = jm.MLPRegressor((8, 4), max_iter=2, random_state=0)
        >>> [W.shape for W in reg.fit(X, X.sum(1)).coefs_]
        [(3, 8), (8, 4), (4, 1)]
        """
        check_is_fitted(self, "model_")
        sd = self.model_.state_dict()
        L = len(self.model_.sizes) - 2
        return [sd[f"hidden.{i}.W"] for i in range(L)] + [sd["out.W"]]

    @property
    def intercepts_(self):
        """list of (n_out,) arrays: the biases (views; with norm='batch' the
        hidden layers have none and get zeros, copies).

        Raises
        ------
        sklearn.exceptions.NotFittedError
            Before ``fit``.

        Examples
        --------
        >>> import numpy as np, jitmlp as jm
        >>> X = np.random.default_rng(0).normal(size=(40, 3))
        >>> reg = jm.MLPRegressor((8,), max_iter=2, random_state=0)
        >>> [b.shape for b in reg.fit(X, X.sum(1)).intercepts_]
        [(8,), (1,)]
        """
        check_is_fitted(self, "model_")
        sd = self.model_.state_dict()
        L = len(self.model_.sizes) - 2
        out = []
        for i in range(L):
            b = sd.get(f"hidden.{i}.b")
            out.append(b if b is not None else
                       np.zeros(self.model_.sizes[i + 1], self.model_.dtype))
        return out + [sd["out.b"]]

    @property
    def n_layers_(self):
        """int: number of layers, input and output included (scikit-learn's).

        Raises
        ------
        sklearn.exceptions.NotFittedError
            Before ``fit``.

        Examples
        --------
        >>> import numpy as np, jitmlp as jm
        >>> X = np.random.default_rng(0).normal(size=(40, 3))
        >>> jm.MLPRegressor((8, 4), max_iter=2, random_state=0).fit(
        ...     X, X.sum(1)).n_layers_
        4
        """
        check_is_fitted(self, "model_")
        return len(self.model_.sizes)

    @property
    def n_outputs_(self):
        """int: number of output units (classes for a classifier, columns of
        ``y`` for a regressor).

        Raises
        ------
        sklearn.exceptions.NotFittedError
            Before ``fit``.

        Examples
        --------
        >>> import numpy as np, jitmlp as jm
        >>> X = np.random.default_rng(0).normal(size=(40, 3))
        >>> jm.MLPRegressor((8,), max_iter=2, random_state=0).fit(
        ...     X, X[:, :2]).n_outputs_
        2
        """
        check_is_fitted(self, "model_")
        return self.model_.n_outputs

    @property
    def out_activation_(self):
        """str: the output function: 'softmax' (classifier, cross-entropy)
        or 'identity' (regressor).

        Raises
        ------
        sklearn.exceptions.NotFittedError
            Before ``fit``.

        Examples
        --------
        >>> import numpy as np, jitmlp as jm
        >>> X = np.random.default_rng(0).normal(size=(40, 3))
        >>> jm.MLPRegressor((8,), max_iter=2, random_state=0).fit(
        ...     X, X.sum(1)).out_activation_
        'identity'
        """
        check_is_fitted(self, "model_")
        return {"squared": "identity", "binary_cross_entropy": "logistic"}.get(
            self._loss, "softmax")

    def _schedule(self, n, batch):
        """scikit-learn's 'invscaling' for solver 'sgd': the rate of an
        epoch is ``learning_rate_init / (t_ + 1) ** power_t`` with ``t_`` the
        samples seen before it (updated once per epoch, as scikit-learn's
        SGDOptimizer.iteration_ends)."""
        if self.solver == "sgd" and self.learning_rate == "invscaling":
            return _InvScalingPerEpoch(n, -(-n // batch), self.power_t,
                                       self.t_ if hasattr(self, "t_") else 0)
        return None

    def _batch(self, n):
        """Batch size for ``n`` training rows (the rows actually trained on:
        after the early-stopping hold-out, or one partial_fit chunk).

        "auto" is ``min(200, n)``; an explicit size larger than ``n`` is
        clipped with a warning, as scikit-learn does.  With ``norm="batch"``
        no training batch may hold a single sample: when ``n % size == 1``
        the smallest larger size that leaves no batch of 1 is used (e.g. 201
        rows with "auto" train as one batch of 201), with a warning only when
        an explicit ``batch_size`` was changed.
        """
        auto = isinstance(self.batch_size, str) and self.batch_size == "auto"
        if not auto and (isinstance(self.batch_size, bool) or not isinstance(
                self.batch_size, numbers.Integral) or self.batch_size < 1):
            raise ValueError(f"batch_size must be 'auto' or a positive "
                             f"integer; got {self.batch_size!r}")
        if self.norm == "batch" and n < 2:
            raise ValueError(f"norm='batch' (BatchNorm) needs at least 2 "
                             f"training samples; got {n}")
        if auto:
            b = min(200, n)
        else:
            b = int(self.batch_size)
            if b > n:
                warnings.warn(f"batch_size={b} is larger than the {n} "
                              f"training samples; it is clipped to {n}",
                              UserWarning, stacklevel=4)
                b = n
        if self.norm == "batch" and (b < 2 or n % b == 1):
            wanted = b
            b = max(b, 2)
            while n % b == 1:  # ends at b == n at the latest
                b += 1
            if not auto:
                warnings.warn(
                    f"batch_size={wanted} with {n} training samples would "
                    f"leave a training batch of 1 sample, which BatchNorm "
                    f"(norm='batch') cannot train on; using batch_size={b}",
                    UserWarning, stacklevel=4)
        return b

    def _check_partial_fit(self):
        if self.solver == "lbfgs":
            raise ValueError("partial_fit is only available for stochastic "
                             "optimizers (solver 'sgd' or 'adam'); "
                             "solver='lbfgs' is not one")
        if self.early_stopping:
            raise ValueError(
                "partial_fit does not support early_stopping=True: every call "
                "would hold out the same fraction of its rows for validation "
                "and never train on them; set early_stopping=False to use "
                "partial_fit, or use fit")

    def _split(self, X, Y, seed, stratify):
        """scikit-learn's early-stopping hold-out: ``validation_fraction`` of
        the rows (rounded up, stratified by class for classifiers), at least
        2 of them."""
        frac = self.validation_fraction
        if isinstance(frac, bool) or not isinstance(frac, numbers.Real) \
                or not 0.0 < frac < 1.0:
            raise ValueError(f"validation_fraction must be in (0, 1) with "
                             f"early_stopping=True; got {frac!r}")
        n = X.shape[0]
        n_val = int(np.ceil(frac * n))
        if n_val < 2 or n - n_val < 1:
            raise ValueError(
                f"The validation set is too small: validation_fraction={frac} "
                f"of {n} samples leaves {n_val} validation and {n - n_val} "
                f"training samples (early_stopping needs at least 2 "
                f"validation samples). Increase 'validation_fraction' or the "
                f"size of your dataset, or set early_stopping=False.")
        arrays = [X, Y] + ([self._fit_weights] if self._fit_weights is not None
                           else [])
        parts = train_test_split(*arrays, test_size=n_val, random_state=seed,
                                 stratify=Y if stratify else None)
        Xt, Xv, Yt, Yv = parts[:4]
        if self._fit_weights is not None:   # validation stays unweighted
            self._fit_weights = np.ascontiguousarray(parts[4])
        if not sp.issparse(Xt):    # sparse rows stay sparse
            Xt, Xv = np.ascontiguousarray(Xt), np.ascontiguousarray(Xv)
        return (Xt, np.ascontiguousarray(Yt), Xv, np.ascontiguousarray(Yv))

    def _make(self, n_features, n_outputs, seed, stopper=None):
        self.model_ = MLP([n_features] + self._hidden() + [n_outputs],
                          activation=self.activation, norm=self.norm,
                          residual=self.residual, loss=self._loss,
                          dtype=self.dtype, seed=seed)
        if stopper is None:  # scikit-learn's training-loss rule
            stopper = _Stalled(self.tol, self.n_iter_no_change,
                               adaptive=(self.solver == "sgd" and
                                         self.learning_rate == "adaptive"))
            self.validation_scores_ = self.best_validation_score_ = None
        # the trainer never splits nor stops by itself: the estimator holds
        # out the validation rows and applies scikit-learn's stopping rules
        self.trainer_ = Trainer(
            self.model_, self._optimizer(), batch_size=1, epochs=1,
            shuffle=bool(self.shuffle), seed=seed, validation_split=0.0,
            early_stopping=False, callbacks=[stopper],
            verbose=bool(self.verbose), track_grad_norms=False)
        self.loss_curve_ = []
        self.best_loss_ = np.inf

    def _fit(self, X, Y, n_outputs, stratify=False):
        seed = self._seed()
        stopper = None
        if self.early_stopping:
            X, Y, Xv, Yv = self._split(X, Y, seed, stratify)
            stopper = _BestValidation(self, Xv, Yv)
        batch = self._batch(X.shape[0])  # errors before any state changes
        sizes = [X.shape[1]] + self._hidden() + [n_outputs]
        if (self.warm_start and hasattr(self, "model_")
                and list(self.model_.sizes) == sizes):
            # scikit-learn's warm_start: go on from the fitted parameters
            # (and optimizer state) with fresh stopping bookkeeping
            self.trainer_.callbacks = [stopper or _Stalled(
                self.tol, self.n_iter_no_change,
                adaptive=(self.solver == "sgd"
                          and self.learning_rate == "adaptive"))]
            if stopper is None:
                self.validation_scores_ = self.best_validation_score_ = None
                return self._train(X, Y, self.max_iter, batch, warn=True)
        else:
            self._make(X.shape[1], n_outputs, seed, stopper)
        if stopper is None:
            return self._train(X, Y, self.max_iter, batch, warn=True)
        self.validation_scores_ = stopper.scores
        self.best_validation_score_ = -np.inf
        try:
            self._train(X, Y, self.max_iter, batch, warn=True)
        finally:
            # whatever stopped training (patience, max_iter, an error), end
            # with the best validation epoch's parameters, as scikit-learn
            stopper.restore(self.model_)
            self.best_validation_score_ = stopper.best
            self.best_loss_ = None
            self.trainer_.callbacks = []  # drop the validation rows
        return self

    def to_onnx(self, path=None):
        """The fitted network as an ONNX graph (evaluation mode).

        Input ``"X"`` of shape ``(batch, n_features_in_)`` in the estimator's
        ``dtype``.  Outputs as skl2onnx gives them for scikit-learn's MLP
        (without ZipMap): MLPClassifier ``"label"`` (``classes_[argmax]``,
        shape ``(batch,)``; int64, float64, bool or string labels) and
        ``"probabilities"`` (softmax, ``(batch, n_classes)``); MLPRegressor
        ``"variable"`` (``(batch, n_outputs)``, also for a 1-D ``y``); both
        also ``"h"``, the raw network outputs.  Needs the ``onnx`` extra.

        Parameters
        ----------
        path : str or os.PathLike, optional
            Write the graph there, atomically (see :meth:`jitmlp.MLP.save`).

        Returns
        -------
        onnx.ModelProto

        Raises
        ------
        sklearn.exceptions.NotFittedError
            Before ``fit``.
        ImportError
            The ``onnx`` package is not installed.
        NotImplementedError
            A multi-label classifier (export ``model_`` instead).

        Examples
        --------
        The labels come out of the graph (runs where the ``onnx`` extra is
        installed):

        >>> import importlib.util, warnings, numpy as np, jitmlp as jm
        >>> X = np.random.default_rng(0).normal(size=(60, 3))
        >>> y = np.where(X[:, 0] > 0, "pos", "neg")
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore")     # not converged
        ...     clf = jm.MLPClassifier((8,), max_iter=3, random_state=0).fit(X, y)
        >>> if (importlib.util.find_spec("onnx")
        ...         and importlib.util.find_spec("onnxruntime")):
        ...     import onnxruntime as ort
        ...     sess = ort.InferenceSession(clf.to_onnx().SerializeToString())
        ...     label, proba = sess.run(["label", "probabilities"], {"X": X})
        ...     assert (label == clf.predict(X)).all()
        ...     assert np.allclose(proba, clf.predict_proba(X), rtol=1e-6)
        """
        check_is_fitted(self, "model_")
        if getattr(self, "_multilabel", False):
            raise NotImplementedError("ONNX export of a multi-label "
                                      "classifier is not implemented; export "
                                      "est.model_.to_onnx() (output h, "
                                      "label j is h[:, j] > 0)")
        from . import _onnx
        kw = ({"classes": self.classes_} if is_classifier(self)
              else {"regressor": True})
        kw["doc"] = repr(self)
        if path is None:
            return _onnx.build(self.model_, **kw)
        return _onnx.save(self.model_, path, **kw)

    def _train(self, X, Y, epochs, batch=None, warn=False):
        if self.solver == "lbfgs":
            return self._train_lbfgs(X, Y)
        batch = self._batch(X.shape[0]) if batch is None else batch
        self.trainer_.batch_size = batch
        self.trainer_.schedule = self._schedule(X.shape[0], batch)
        before = len(self.trainer_.history)
        try:
            hist = self.trainer_.fit(X, Y, epochs=epochs,
                                     sample_weight=self._fit_weights)
        except KeyboardInterrupt:
            # as scikit-learn: Ctrl-C ends the training, the estimator keeps
            # (and counts) the epochs trained, and says so (the Trainer
            # stopped cleanly, its History marks the interruption)
            hist = None
            warnings.warn("Training interrupted by user.", stacklevel=4)
        h = self.trainer_.history
        losses = h.loss[before:]
        if (hist is None or hist.interrupted) and losses and \
                h.steps[-1] < -(-X.shape[0] // batch):
            # as scikit-learn, an epoch cut short by Ctrl-C is not counted
            # (nor scored by early stopping): only whole epochs are (also
            # when a SIGINT handler of the user's let the fit return)
            losses = losses[:-1]
        self.t_ = getattr(self, "t_", 0) + len(losses) * X.shape[0]
        self.loss_curve_.extend(losses)
        # this call's epochs, as scikit-learn (reset by every fit and
        # partial_fit); loss_curve_ keeps them all
        self.n_iter_ = len(losses)
        if self.loss_curve_:
            self.loss_ = self.loss_curve_[-1]
        if self.best_loss_ is not None and losses:
            self.best_loss_ = min(self.best_loss_, min(losses))
        if warn and hist is not None and len(losses) == epochs and \
                not hist.interrupted:
            # fit ran every epoch without a stopping rule firing
            warnings.warn(f"Stochastic Optimizer: Maximum iterations "
                          f"({self.max_iter}) reached and the optimization "
                          f"hasn't converged yet.", ConvergenceWarning,
                          stacklevel=4)
        return self

    def _train_lbfgs(self, X, Y):
        """Full-batch L-BFGS-B over the flat parameter buffer
        (scipy.optimize.minimize, as scikit-learn's solver='lbfgs'):
        objective mean loss + 0.5 * alpha * ||W||^2 and its gradient from
        :meth:`MLP.loss_and_grad`; ``max_iter`` iterations, ``max_fun``
        evaluations, ``tol`` as the projected-gradient tolerance ``gtol``."""
        from scipy.optimize import minimize
        m = self.model_
        X = m._check_X(X)    # once: every evaluation then uses it as it is
        m.train()
        mask = np.zeros(m.n_params, bool)
        for name, v in m.param_views(mask).items():
            v[...] = name.endswith(".W")
        alpha = float(self.alpha)
        curve = []

        sw = self._fit_weights
        # one objective call is one "chunk" of the thread governor: on a busy
        # machine L-BFGS moves to fewer threads (results do not change)
        gov = ThreadGovernor()
        n = X.shape[0]
        block = n if m.norm == "batch" else min(n, _GRAD_CHUNK)
        widths = m.sizes[1:] if isinstance(X, CSRRows) else m.sizes
        sizes = batch_sizes(n, block, -(-n // block))

        def fun(p):
            m.params[...] = p
            gov.next_chunk(1)
            tic = time.perf_counter()
            cpu = time.process_time()
            loss, g = m.loss_and_grad(X, Y, sample_weight=sw)
            gov.record(time.perf_counter() - tic, 1,
                       time.process_time() - cpu)
            w = m.params[mask].astype(np.float64)
            loss = float(loss) + 0.5 * alpha * float(w @ w)
            g = g.astype(np.float64)
            g[mask] += alpha * w
            return loss, g

        def callback(intermediate_result):
            curve.append(float(intermediate_result.fun))

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            try:    # start inside: an interrupt in its check is undone
                gov.start(None, widths, sizes, m.dtype)
                res = minimize(fun, m.params.astype(np.float64), jac=True,
                               method="L-BFGS-B", callback=callback,
                               options={"maxiter": int(self.max_iter),
                                        "maxfun": int(self.max_fun),
                                        "gtol": float(self.tol)})
            finally:
                gov.stop()
        m.params[...] = res.x
        m.eval()
        self.n_iter_ = int(res.nit)
        self.loss_curve_ = curve or [float(res.fun)]
        self.loss_ = float(res.fun)
        self.best_loss_ = min(self.loss_curve_)
        self.t_ = X.shape[0] * self.n_iter_
        if self.n_iter_ >= self.max_iter and not res.success or \
                res.status == 1:
            warnings.warn(f"lbfgs stopped after {self.n_iter_} iterations "
                          f"({res.message}); increase max_iter or max_fun",
                          ConvergenceWarning, stacklevel=4)
        return self


def _check_X_kind(est, X):
    """X with pandas nullable columns converted (scipy.sparse X passes
    through: ``validate_data`` takes it with ``accept_sparse``)."""
    return _pandas_nullable(X, "X")


def _pandas_nullable(a, what):
    """pandas nullable columns (Float64, Int64, boolean, ...): with no
    missing value they become the plain numpy dtype (column names kept);
    missing values (pd.NA) are a ValueError naming them."""
    if not hasattr(a, "isna"):
        return a
    frame = hasattr(a, "columns")
    dtypes = dict(a.dtypes.items()) if frame else {None: a.dtype}
    import pandas as pd
    nullable = {k: d for k, d in dtypes.items()
                if getattr(d, "na_value", None) is pd.NA}
    if not nullable:
        return a
    n_na = int(np.asarray(a.isna()).sum())
    if n_na:
        raise ValueError(
            f"{what} contains {n_na} missing value(s) (pd.NA) in pandas "
            f"nullable columns; impute or drop them first")
    to = {k: getattr(d, "numpy_dtype", object) for k, d in nullable.items()}
    return a.astype(to) if frame else a.astype(to[None])


class _BestValidation:
    """scikit-learn's early stopping as a Trainer callback: score the
    held-out rows after every epoch (accuracy for classifiers, R^2 for
    regressors), keep a copy of the best epoch's parameters, stop when the
    score has not improved by ``tol`` for more than ``n_iter_no_change``
    consecutive epochs.  :meth:`restore` puts the best parameters back."""

    def __init__(self, est, Xv, Yv):
        self.est, self.Xv, self.Yv = est, Xv, Yv
        self.tol, self.n = est.tol, est.n_iter_no_change
        self.scores = []
        self.best, self.bad, self.state = -np.inf, 0, None

    def __call__(self, trainer, hist):
        m = trainer.model
        score = self.est._validation_score(m, self.Xv, self.Yv)
        self.scores.append(score)
        if self.est.verbose:
            print(f"Validation score: {score:f}", flush=True)
        self.bad = self.bad + 1 if score < self.best + self.tol else 0
        if score > self.best:
            self.best = score
            self.state = (m.params.copy(), m.stats.copy())
        return self.bad > self.n  # as scikit-learn: strictly more

    def restore(self, m):
        if self.state is not None:
            m.params[...] = self.state[0]
            m.stats[...] = self.state[1]


class _Stalled:
    """scikit-learn's rule as a Trainer callback: stop when the training
    loss has not improved by ``tol`` for more than ``n`` consecutive epochs;
    with ``adaptive`` (learning_rate='adaptive', solver 'sgd') divide the
    learning rate by 5 instead, and stop only once it is <= 1e-6."""

    def __init__(self, tol, n, adaptive=False):
        self.tol, self.n, self.adaptive = tol, n, adaptive
        self.best, self.bad = np.inf, 0

    def __call__(self, trainer, hist):
        loss = hist.loss[-1]
        self.bad = self.bad + 1 if loss > self.best - self.tol else 0
        self.best = min(self.best, loss)
        if self.bad <= self.n:  # as scikit-learn: strictly more
            return False
        if self.adaptive and trainer.optimizer.lr > 1e-6:
            trainer.optimizer.lr /= 5.0
            self.bad = 0
            return False
        return True


class _InvScalingPerEpoch(Schedule):
    """``lr / (t_ + 1) ** power_t`` with t_ the samples seen before the
    epoch of each step (scikit-learn's invscaling, once per epoch)."""

    def __init__(self, n, steps_per_epoch, power_t, t0):
        self.n, self.spe, self.power_t, self.t0 = n, steps_per_epoch, \
            power_t, t0
        self.start = None

    def values(self, t, base_lr):
        t = np.asarray(t, np.int64)
        if self.start is None:        # the optimizer step of the first epoch
            self.start = int(t.min()) if t.size else 0
        seen = self.t0 + (t - self.start) // self.spe * self.n
        return base_lr / (seen + 1.0) ** self.power_t


class MLPRegressor(RegressorMixin, _BaseMLP):
    """Multi-layer perceptron regressor (squared loss) trained by jitmlp.

    Parameters follow :class:`sklearn.neural_network.MLPRegressor`, plus
    ``norm``, ``residual`` and ``dtype`` of :class:`jitmlp.MLP`.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default (100,)
        Widths of the hidden layers.
    activation : str, default "relu"
        Any name of :data:`jitmlp.registry.ACTIVATIONS` ("logistic" too).
    norm : {None, "batch", "layer"}
    residual : bool
    solver : {"adam", "sgd", "lbfgs"}
    alpha : float >= 0
        Coefficient of ``0.5 ||W||^2`` added to the mean loss.
    batch_size : int or "auto" (``min(200, n)``)
    learning_rate : {"constant", "invscaling", "adaptive"} (solver "sgd")
    learning_rate_init, power_t, max_iter, shuffle, random_state, tol, \
momentum, nesterovs_momentum, early_stopping, validation_fraction, \
n_iter_no_change, beta_1, beta_2, epsilon, max_fun, warm_start, verbose
        As :class:`sklearn.neural_network.MLPRegressor`.
    dtype : {"float64", "float32"}
        The network's dtype (inputs are converted to it).

    Attributes
    ----------
    model_ : MLP
        The fitted network.
    trainer_ : Trainer
        Its trainer (optimizer state, history).
    loss_curve_ : list of float
        Mean training loss of every epoch.
    n_iter_ : int
        Epochs trained by the last call of ``fit`` or ``partial_fit`` (as
        scikit-learn: a warm-started fit or a partial_fit counts its own;
        ``loss_curve_`` holds every epoch).
    n_features_in_ : int
        Number of features seen by ``fit``.
    best_loss_ : float or None
        Smallest training loss (None with early_stopping).
    validation_scores_ : list of float or None
        R^2 on the held-out rows after every epoch (early_stopping only).
    best_validation_score_ : float or None
        The best of them.

    Examples
    --------
    >>> import numpy as np, jitmlp as jm
    >>> X = np.random.default_rng(0).normal(size=(200, 3))
    >>> reg = jm.MLPRegressor((16,), max_iter=5, random_state=0)
    >>> reg.fit(X, X.sum(1)).predict(X[:2]).shape
    (2,)
    >>> reg.n_iter_, len(reg.loss_curve_)
    (5, 5)
    """

    _loss = "squared"

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True  # y of shape (n, k) is fine
        return tags

    def _more_tags(self):  # scikit-learn < 1.6
        return {"multioutput": True}

    def _prepare(self, X, y, reset):
        self._check_params()
        X = _check_X_kind(self, X)
        y = _pandas_nullable(y, "y")
        X, y = validate_data(self, X, y, reset=reset, multi_output=True,
                             y_numeric=True, dtype=[np.float64, np.float32],
                             accept_sparse=_SPARSE)
        Y = np.asarray(y, dtype=np.float64)
        if Y.ndim == 2 and Y.shape[1] == 1:
            # scikit-learn's MLP: a column y is 1-D (with its warning)
            Y = column_or_1d(Y, warn=True)
        self._y_1d = Y.ndim == 1 if reset else self._y_1d
        return X, Y.reshape(len(Y), -1)

    def _validation_score(self, model, Xv, Yv):
        P = model.forward(Xv).astype(np.float64)
        return float(r2_score(Yv, P))

    def fit(self, X, y, sample_weight=None):
        """Fit the network to ``X``, ``y`` (``max_iter`` epochs at most).

        Parameters
        ----------
        X : array_like or scipy.sparse matrix of shape (n, n_features)
        y : array_like, shape (n,) or (n, n_outputs)
        sample_weight : array_like, shape (n,), optional
            Non-negative weights: each batch's loss is
            ``sum_i w_i l_i / sum_i w_i`` (validation stays unweighted).

        Returns
        -------
        MLPRegressor
            ``self``.

        Raises
        ------
        ValueError, TypeError
            Invalid data or parameters (before anything changes).
        jitmlp.DivergenceError
            Training diverged (the model keeps its last finite parameters).

        Examples
        --------
        >>> import numpy as np, jitmlp as jm
        >>> X = np.random.default_rng(0).normal(size=(100, 3))
        >>> reg = jm.MLPRegressor((16,), max_iter=3, random_state=0)
        >>> reg.fit(X, X @ [1.0, -2.0, 0.5]) is reg
        True
        >>> reg.n_iter_, reg.model_.sizes
        (3, (3, 16, 1))
        >>> reg.fit(X, np.c_[X[:, 0], X[:, 1]]).predict(X[:4]).shape  # 2 outputs
        (4, 2)
        """
        X, Y = self._prepare(X, y, reset=True)
        with self._weighted(self._weights(X, None, sample_weight)):
            return self._fit(X, Y, Y.shape[1])

    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over ``X``, ``y``, going on from the current state.

        Parameters
        ----------
        X : array_like or scipy.sparse matrix of shape (n, n_features)
        y : array_like, shape (n,) or (n, n_outputs)
        sample_weight : array_like, shape (n,), optional
            Non-negative weights: each batch's loss is
            ``sum_i w_i l_i / sum_i w_i`` (validation stays unweighted).

        Returns
        -------
        MLPRegressor
            ``self``.

        Raises
        ------
        ValueError
            ``early_stopping=True`` or ``solver='lbfgs'`` (as scikit-learn),
            invalid data.
        jitmlp.DivergenceError
            Training diverged (the model keeps its last finite parameters).

        Examples
        --------
        Streaming data, one chunk at a time:

        >>> import numpy as np, jitmlp as jm
        >>> rng = np.random.default_rng(0)
        >>> reg = jm.MLPRegressor((8,), random_state=0)
        >>> for _ in range(3):
        ...     X = rng.normal(size=(50, 2))
        ...     reg = reg.partial_fit(X, X[:, 0] - X[:, 1])
        >>> len(reg.loss_curve_), reg.n_iter_, reg.t_
        (3, 1, 150)
        """
        self._check_partial_fit()
        first = not hasattr(self, "model_")
        X, Y = self._prepare(X, y, reset=first)
        with self._weighted(self._weights(X, None, sample_weight)):
            return self._partial(X, Y, Y.shape[1], first)

    def predict(self, X):
        """Predictions, shape (n,) for a 1-D training ``y``, else (n, k).

        Parameters
        ----------
        X : array_like or scipy.sparse matrix of shape (n, n_features)

        Returns
        -------
        ndarray of float64

        Raises
        ------
        sklearn.exceptions.NotFittedError
            Before ``fit``.
        ValueError
            ``X`` with another number of features than at ``fit``, or
            non-finite values.

        Examples
        --------
        >>> import numpy as np, jitmlp as jm
        >>> X = np.random.default_rng(0).normal(size=(60, 2))
        >>> reg = jm.MLPRegressor((8,), max_iter=2, random_state=0)
        >>> reg.fit(X, X.sum(1)).predict(X[:3]).dtype
        dtype('float64')
        """
        check_is_fitted(self, "model_")
        X = _check_X_kind(self, X)
        X = validate_data(self, X, reset=False,
                          dtype=[np.float64, np.float32],
                          accept_sparse=_SPARSE)
        h = self.model_.forward(X)
        return h[:, 0].astype(np.float64) if self._y_1d \
            else h.astype(np.float64)


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """Multi-layer perceptron classifier (softmax cross-entropy) by jitmlp.

    Labels of any type (``classes_``); parameters follow
    :class:`sklearn.neural_network.MLPClassifier`, plus ``norm``,
    ``residual`` and ``dtype`` of :class:`jitmlp.MLP`.  ``y`` is one label
    per sample, or a 0/1 indicator matrix of shape (n, n_labels) for
    multi-label classification (logistic outputs, binary cross-entropy),
    as scikit-learn's.  With early_stopping,
    ``validation_scores_`` holds the accuracy on the held-out rows.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default (100,)
    activation : str, default "relu"
        Any name of :data:`jitmlp.registry.ACTIVATIONS` ("logistic" too).
    norm : {None, "batch", "layer"}
    residual : bool
    solver : {"adam", "sgd", "lbfgs"}
    alpha : float >= 0
        Coefficient of ``0.5 ||W||^2`` added to the mean loss.
    batch_size : int or "auto" (``min(200, n)``)
    learning_rate : {"constant", "invscaling", "adaptive"} (solver "sgd")
    learning_rate_init, power_t, max_iter, shuffle, random_state, tol,
    momentum, nesterovs_momentum, early_stopping, validation_fraction,
    n_iter_no_change, beta_1, beta_2, epsilon, max_fun, warm_start, verbose
        As :class:`sklearn.neural_network.MLPClassifier`.
    dtype : {"float64", "float32"}
    class_weight : None, "balanced" or dict label -> weight
        Multiplies each sample's weight by its class's (scikit-learn's
        definition of "balanced": ``n / (n_classes * count(class))``).

    Attributes
    ----------
    classes_, coefs_, intercepts_, n_layers_, n_outputs_, out_activation_,
    loss_, loss_curve_, best_loss_, validation_scores_,
    best_validation_score_, n_iter_, t_, n_features_in_
        As scikit-learn's MLP (``out_activation_`` is always "softmax").
    model_ : MLP
    trainer_ : Trainer

    Examples
    --------
    >>> import warnings, numpy as np, jitmlp as jm
    >>> from sklearn.datasets import load_iris
    >>> X, y = load_iris(return_X_y=True)
    >>> names = np.array(["setosa", "versicolor", "virginica"])[y]
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")     # max_iter=50: not converged
    ...     clf = jm.MLPClassifier((16,), max_iter=50, random_state=0)
    ...     clf = clf.fit(X, names, sample_weight=np.ones(len(X)))
    >>> clf.classes_.tolist(), clf.predict_proba(X[:2]).shape
    (['setosa', 'versicolor', 'virginica'], (2, 3))
    >>> [c.shape for c in clf.coefs_]
    [(4, 16), (16, 3)]
    """

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *,
                 norm=None, residual=False, solver="adam", alpha=1e-4,
                 batch_size="auto", learning_rate_init=1e-3, max_iter=200,
                 shuffle=True, random_state=None, tol=1e-4, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False,
                 validation_fraction=0.1, n_iter_no_change=10,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, dtype="float64",
                 verbose=False, learning_rate="constant", power_t=0.5,
                 max_fun=15000, warm_start=False, class_weight=None):
        super().__init__(hidden_layer_sizes, activation, norm=norm,
            residual=residual, solver=solver, alpha=alpha,
            batch_size=batch_size, learning_rate_init=learning_rate_init,
            max_iter=max_iter, shuffle=shuffle, random_state=random_state,
            tol=tol, momentum=momentum,
            nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            n_iter_no_change=n_iter_no_change, beta_1=beta_1,
            beta_2=beta_2, epsilon=epsilon, dtype=dtype, verbose=verbose,
            learning_rate=learning_rate, power_t=power_t, max_fun=max_fun,
            warm_start=warm_start)
        self.class_weight = class_weight

    def _prepare(self, X, y, reset, classes=None):
        self._check_params()
        X = _check_X_kind(self, X)
        y = _pandas_nullable(y, "y")
        shape = getattr(y, "shape", None)
        if shape is None and isinstance(y, (list, tuple)):
            try:
                shape = np.shape(y)
            except ValueError:  # ragged
                shape = None
        if shape is not None and len(shape) == 2 and shape[1] > 1:
            try:
                kind = type_of_target(y)
            except ValueError:
                kind = None
            if kind == "multilabel-indicator":
                return self._prepare_multilabel(X, y, reset)
            if kind == "multiclass-multioutput":
                raise ValueError(
                    f"{type(self).__name__} does not support multi-output "
                    f"classification: y has shape {tuple(shape)}; pass one "
                    f"label per sample")
        X, y = validate_data(self, X, y, reset=reset,
                             dtype=[np.float64, np.float32],
                             accept_sparse=_SPARSE)
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        if reset:
            enc = LabelEncoder().fit(y if classes is None else classes)
            if len(enc.classes_) < 2:
                raise ValueError(f"MLPClassifier needs samples of at least 2 "
                                 f"classes in the data; got 1 class: "
                                 f"{enc.classes_.tolist()[0]!r}")
            known = enc.classes_
        else:
            known = self.classes_
        unknown = np.setdiff1d(np.unique(y), known)
        if unknown.size:
            raise ValueError(f"y contains labels not in classes_ "
                             f"{known.tolist()[:10]}: "
                             f"{unknown[:5].tolist()}")
        if reset:
            self._enc = enc
            self.classes_ = enc.classes_
            self._multilabel = False
        elif getattr(self, "_multilabel", False):
            raise ValueError("this classifier was fitted on a multi-label "
                             "indicator y; pass y of the same kind")
        return X, self._enc.transform(y)

    def _prepare_multilabel(self, X, y, reset):
        """Multi-label indicator ``y`` (n, k) in {0, 1}: one sigmoid output
        per label, the binary_cross_entropy loss (scikit-learn's MLP:
        ``classes_ = arange(k)``, predictions (n, k))."""
        X, Y = validate_data(self, X, y, reset=reset, multi_output=True,
                             dtype=[np.float64, np.float32],
                             accept_sparse=_SPARSE)
        Y = np.asarray(Y)
        if not np.isin(Y, (0, 1)).all():
            raise ValueError("a multi-label y must hold only 0 and 1")
        if reset:
            self.classes_ = np.arange(Y.shape[1])
            self._multilabel = True
        elif not getattr(self, "_multilabel", False) \
                or Y.shape[1] != len(self.classes_):
            raise ValueError(f"y has shape {Y.shape}; this classifier was "
                             f"fitted on {len(self.classes_)} "
                             f"{'labels' if self._multilabel else 'classes'}")
        return X, np.ascontiguousarray(Y, dtype=np.float64)

    @property
    def _loss(self):
        return ("binary_cross_entropy" if getattr(self, "_multilabel", False)
                else "cross_entropy")

    def _validation_score(self, model, Xv, yv):
        if getattr(self, "_multilabel", False):   # subset accuracy
            P = (model.forward(Xv) > 0)
            return float(np.mean((P == (yv > 0.5)).all(axis=1)))
        return float(np.mean(np.argmax(model.forward(Xv), axis=1) == yv))

    def fit(self, X, y, sample_weight=None):
        """Fit the network to ``X`` and the labels ``y``.

        Parameters
        ----------
        X : array_like or scipy.sparse matrix of shape (n, n_features)
        y : array_like, shape (n,)
            Labels of any type (at least 2 classes).
        sample_weight : array_like, shape (n,), optional
            Non-negative weights, multiplied by ``class_weight``'s.

        Returns
        -------
        MLPClassifier
            ``self``.

        Raises
        ------
        ValueError, TypeError
            Invalid data or parameters (before anything changes).
        jitmlp.DivergenceError
            Training diverged (the model keeps its last finite parameters).

        Examples
        --------
        >>> import warnings, numpy as np, jitmlp as jm
        >>> X = np.random.default_rng(0).normal(size=(90, 2))
        >>> y = np.array(["a", "b", "c"])[(X > 0).sum(axis=1)]
        >>> clf = jm.MLPClassifier((16,), max_iter=3, random_state=0)
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore")     # max_iter=3: not converged
        ...     clf = clf.fit(X, y, sample_weight=np.ones(len(X)))
        >>> clf.classes_.tolist(), clf.n_iter_, clf.out_activation_
        (['a', 'b', 'c'], 3, 'softmax')
        """
        y_raw = y
        X, y = self._prepare(X, y, reset=True)
        multi = self._multilabel
        if multi and self.class_weight is not None:
            raise ValueError("class_weight is not supported for multi-label "
                             "y")
        w = self._weights(X, y, sample_weight, None if multi else
                          column_or_1d(np.asarray(y_raw)))
        with self._weighted(w):
            return self._fit(X, y, len(self.classes_), stratify=not multi)

    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One epoch over ``X``, ``y``, going on from the current state.

        Parameters
        ----------
        X : array_like or scipy.sparse matrix of shape (n, n_features)
        y : array_like, shape (n,)
        classes : array_like, optional
            Every label; required on the first call, and the same set on
            later calls (as scikit-learn).
        sample_weight : array_like, shape (n,), optional
            Non-negative weights, multiplied by ``class_weight``'s.

        Returns
        -------
        MLPClassifier
            ``self``.

        Raises
        ------
        ValueError
            Missing or different ``classes``, unseen labels,
            ``early_stopping=True`` or ``solver='lbfgs'``.
        jitmlp.DivergenceError
            Training diverged (the model keeps its last finite parameters).

        Examples
        --------
        >>> import numpy as np, jitmlp as jm
        >>> rng = np.random.default_rng(0)
        >>> clf = jm.MLPClassifier((8,), random_state=0)
        >>> for _ in range(3):                   # chunks of a stream
        ...     X = rng.normal(size=(40, 2))
        ...     clf = clf.partial_fit(X, X[:, 0] > 0, classes=[False, True])
        >>> clf.classes_.tolist(), len(clf.loss_curve_), clf.n_iter_
        ([False, True], 3, 1)
        """
        self._check_partial_fit()
        first = not hasattr(self, "model_")
        if first and classes is None:
            raise ValueError("classes must be passed on the first call to "
                             "partial_fit")
        if not first and classes is not None and not np.array_equal(
                self.classes_, unique_labels(classes)):
            raise ValueError(
                f"classes={unique_labels(classes).tolist()!r} is not the same "
                f"as on the first call to partial_fit (or fit), which set "
                f"classes_={self.classes_.tolist()!r}; call fit to start "
                f"over with other classes")
        y_raw = y
        X, y = self._prepare(X, y, reset=first, classes=classes)
        w = self._weights(X, y, sample_weight, None if self._multilabel else
                          column_or_1d(np.asarray(y_raw)), partial=True)
        with self._weighted(w):
            return self._partial(X, y, len(self.classes_), first)

    def predict_proba(self, X):
        """Class probabilities (softmax), shape (n, n_classes), in the order
        of ``classes_``.

        Parameters
        ----------
        X : array_like or scipy.sparse matrix of shape (n, n_features)

        Returns
        -------
        ndarray of float64
            Rows sum to 1.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            Before ``fit``.
        ValueError
            ``X`` with another number of features than at ``fit``, or
            non-finite values.

        Examples
        --------
        >>> import warnings, numpy as np, jitmlp as jm
        >>> X = np.random.default_rng(0).normal(size=(60, 2))
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore")     # not converged
        ...     clf = jm.MLPClassifier((8,), max_iter=2, random_state=0).fit(
        ...         X, np.where(X[:, 0] > 0, "yes", "no"))
        >>> p = clf.predict_proba(X[:3])
        >>> p.shape, bool(np.allclose(p.sum(axis=1), 1.0))
        ((3, 2), True)
        """
        check_is_fitted(self, "model_")
        X = _check_X_kind(self, X)
        X = validate_data(self, X, reset=False,
                          dtype=[np.float64, np.float32],
                          accept_sparse=_SPARSE)
        return self.model_.predict_proba(X).astype(np.float64)

    def predict(self, X):
        """Predicted labels (``classes_[argmax]``), shape (n,).

        Parameters
        ----------
        X : array_like or scipy.sparse matrix of shape (n, n_features)

        Returns
        -------
        ndarray
            Labels of the type of ``classes_`` (an (n, k) 0/1 indicator
            array for a multi-label fit).

        Raises
        ------
        sklearn.exceptions.NotFittedError
            Before ``fit``.
        ValueError
            ``X`` with another number of features than at ``fit``, or
            non-finite values.

        Examples
        --------
        >>> import warnings, numpy as np, jitmlp as jm
        >>> X = np.random.default_rng(0).normal(size=(60, 2))
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore")     # not converged
        ...     clf = jm.MLPClassifier((8,), max_iter=2, random_state=0).fit(
        ...         X, np.where(X[:, 0] > 0, "yes", "no"))
        >>> set(clf.predict(X).tolist()) <= {"yes", "no"}
        True
        """
        check_is_fitted(self, "model_")
        if getattr(self, "_multilabel", False):   # (n, k) indicator
            X = _check_X_kind(self, X)
            X = validate_data(self, X, reset=False,
                              dtype=[np.float64, np.float32],
                              accept_sparse=_SPARSE)
            return self.model_.predict(X)
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
