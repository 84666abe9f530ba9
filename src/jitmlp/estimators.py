"""scikit-learn compatible estimators on top of :class:`MLP` and :class:`Trainer`.

Needs scikit-learn (``pip install jitmlp[test]`` or scikit-learn itself);
``jm.MLPClassifier`` and ``jm.MLPRegressor`` import it on first use.
Parameter names follow ``sklearn.neural_network``; ``alpha`` is the L2
weight decay on W (as in scikit-learn up to its 1/n_samples scaling: here the
loss is a mean, so ``alpha`` is the coefficient of ``0.5 * alpha * ||W||^2``
added to the mean loss), ``max_iter`` counts epochs.
"""
import numbers

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, column_or_1d

try:
    from sklearn.utils.validation import validate_data
except ImportError:  # scikit-learn < 1.6
    def validate_data(est, X, y="no_validation", reset=True, **kw):
        if isinstance(y, str) and y == "no_validation":
            return est._validate_data(X, reset=reset, **kw)
        return est._validate_data(X, y, reset=reset, **kw)

from .model import MLP
from .optim import SGD, Adam
from .trainer import Trainer


class _BaseMLP(BaseEstimator):
    _loss = "squared"

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *,
                 norm=None, residual=False, solver="adam", alpha=1e-4,
                 batch_size="auto", learning_rate_init=1e-3, max_iter=200,
                 shuffle=True, random_state=None, tol=1e-4, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False,
                 validation_fraction=0.1, n_iter_no_change=10,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, dtype="float64",
                 verbose=False):
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

    # ---------------------------------------------------------------- helpers
    def _seed(self):
        """random_state as the integer seed jitmlp takes (drawn once per fit)."""
        if isinstance(self.random_state, numbers.Integral):
            return int(self.random_state)
        return int(check_random_state(self.random_state).randint(2 ** 31 - 1))

    def _hidden(self):
        h = self.hidden_layer_sizes
        if isinstance(h, numbers.Integral):
            h = [h]
        h = list(h)
        if any(not isinstance(k, numbers.Integral) or k < 1 for k in h):
            raise ValueError(f"hidden_layer_sizes must be positive integers; "
                             f"got {self.hidden_layer_sizes!r}")
        return [int(k) for k in h]

    def _optimizer(self):
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

    def _batch(self, n):
        if self.batch_size == "auto":
            return min(200, n)
        if isinstance(self.batch_size, bool) or not isinstance(
                self.batch_size, numbers.Integral) or self.batch_size < 1:
            raise ValueError(f"batch_size must be 'auto' or a positive "
                             f"integer; got {self.batch_size!r}")
        return min(int(self.batch_size), n)

    def _make(self, n_features, n_outputs, n_samples):
        seed = self._seed()
        self.model_ = MLP([n_features] + self._hidden() + [n_outputs],
                          activation=self.activation, norm=self.norm,
                          residual=self.residual, loss=self._loss,
                          dtype=self.dtype, seed=seed)
        callbacks = []
        if not self.early_stopping:
            callbacks.append(self._stall_callback())
        self.trainer_ = Trainer(
            self.model_, self._optimizer(),
            batch_size=self._batch(n_samples), epochs=1,
            shuffle=self.shuffle, seed=seed,
            validation_split=(self.validation_fraction if self.early_stopping
                              else 0.0),
            early_stopping=self.early_stopping,
            patience=self.n_iter_no_change, min_delta=self.tol,
            callbacks=callbacks, verbose=self.verbose,
            track_grad_norms=False)
        self.loss_curve_ = []

    def _stall_callback(self):
        return _Stalled(self.tol, self.n_iter_no_change)

    def _train(self, X, Y, epochs):
        bs = self._batch(X.shape[0])
        self.trainer_.batch_size = bs
        if self.norm == "batch" and X.shape[0] % bs == 1:
            self.trainer_.batch_size = bs + 1 if bs + 1 <= X.shape[0] else bs
        hist = self.trainer_.fit(X, Y, epochs=epochs)
        self.loss_curve_.extend(hist.loss)
        self.n_iter_ = len(self.loss_curve_)
        self.loss_ = self.loss_curve_[-1]
        return self


class _Stalled:
    """scikit-learn's rule as a Trainer callback: stop when the training
    loss has not improved by ``tol`` for more than ``n`` consecutive epochs."""

    def __init__(self, tol, n):
        self.tol, self.n = tol, n
        self.best, self.bad = np.inf, 0

    def __call__(self, trainer, hist):
        loss = hist.loss[-1]
        self.bad = self.bad + 1 if loss > self.best - self.tol else 0
        self.best = min(self.best, loss)
        return self.bad > self.n  # as scikit-learn: strictly more


class MLPRegressor(RegressorMixin, _BaseMLP):
    """Multi-layer perceptron regressor (squared loss) trained by jitmlp.

    Parameters follow :class:`sklearn.neural_network.MLPRegressor`, plus
    ``norm``, ``residual`` and ``dtype`` of :class:`jitmlp.MLP`.

    Attributes
    ----------
    model_ : MLP, trainer_ : Trainer, loss_curve_ : list, n_iter_ : int,
    n_features_in_ : int
    """

    _loss = "squared"

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True  # y of shape (n, k) is fine
        return tags

    def _more_tags(self):  # scikit-learn < 1.6
        return {"multioutput": True}

    def _prepare(self, X, y, reset):
        X, y = validate_data(self, X, y, reset=reset, multi_output=True,
                             y_numeric=True, dtype=[np.float64, np.float32])
        Y = np.asarray(y, dtype=np.float64)
        self._y_1d = Y.ndim == 1 if reset else self._y_1d
        return X, Y.reshape(len(Y), -1)

    def fit(self, X, y):
        X, Y = self._prepare(X, y, reset=True)
        self._make(X.shape[1], Y.shape[1], X.shape[0])
        return self._train(X, Y, self.max_iter)

    def partial_fit(self, X, y):
        first = not hasattr(self, "model_")
        X, Y = self._prepare(X, y, reset=first)
        if first:
            self._make(X.shape[1], Y.shape[1], X.shape[0])
        return self._train(X, Y, 1)

    def predict(self, X):
        check_is_fitted(self, "model_")
        X = validate_data(self, X, reset=False,
                          dtype=[np.float64, np.float32])
        h = self.model_.forward(X)
        return h[:, 0].astype(np.float64) if self._y_1d \
            else h.astype(np.float64)


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """Multi-layer perceptron classifier (softmax cross-entropy) by jitmlp.

    Labels of any type (``classes_``); parameters follow
    :class:`sklearn.neural_network.MLPClassifier`, plus ``norm``,
    ``residual`` and ``dtype`` of :class:`jitmlp.MLP`.
    """

    _loss = "cross_entropy"

    def _prepare(self, X, y, reset, classes=None):
        X, y = validate_data(self, X, y, reset=reset,
                             dtype=[np.float64, np.float32])
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        if reset:
            self._enc = LabelEncoder().fit(y if classes is None else classes)
            self.classes_ = self._enc.classes_
            if len(self.classes_) < 2:
                raise ValueError(f"MLPClassifier needs samples of at least 2 "
                                 f"classes in the data; got 1 class: "
                                 f"{self.classes_[0]!r}")
        unknown = np.setdiff1d(np.unique(y), self.classes_)
        if unknown.size:
            raise ValueError(f"y contains labels not in classes_: "
                             f"{unknown[:5].tolist()}")
        return X, self._enc.transform(y)

    def fit(self, X, y):
        X, y = self._prepare(X, y, reset=True)
        self._make(X.shape[1], len(self.classes_), X.shape[0])
        return self._train(X, y, self.max_iter)

    def partial_fit(self, X, y, classes=None):
        first = not hasattr(self, "model_")
        if first and classes is None:
            raise ValueError("classes must be passed on the first call to "
                             "partial_fit")
        X, y = self._prepare(X, y, reset=first, classes=classes)
        if first:
            self._make(X.shape[1], len(self.classes_), X.shape[0])
        return self._train(X, y, 1)

    def predict_proba(self, X):
        check_is_fitted(self, "model_")
        X = validate_data(self, X, reset=False,
                          dtype=[np.float64, np.float32])
        return self.model_.predict_proba(X).astype(np.float64)

    def predict(self, X):
        check_is_fitted(self, "model_")
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
