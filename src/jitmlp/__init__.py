"""jitmlp: fully connected networks trained fast on the CPU with Numba kernels.

>>> import jitmlp as jm
>>> model = jm.MLP([64, 128, 10], loss="cross_entropy", seed=0)
>>> trainer = jm.Trainer(model, jm.SGD(lr=0.1), batch_size=32, epochs=20)
"""
import os as _os

# Numba's OpenMP threads spin after each parallel loop by default and then
# steal the cores from the BLAS threads that run the next matrix product
# (measured: a 784-256-256-10 Adam epoch 0.68 s spinning, 0.20 s passive).
# Must be set before the OpenMP runtime loads; a user's own setting wins.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# a fork-safe threading layer unless the user chose one (see _threads.py)
from ._threads import choose_threading_layer as _layer  # noqa: E402

_layer()

# decorate the kernels (their cache folder is chosen in kernels/_jit.py), then
# clear stale caches in every folder they use, before any kernel is loaded
from ._cache import ensure_fresh_kernel_cache as _fresh  # noqa: E402

_fresh()

from . import datasets, optim, registry, schedules  # noqa: E402,F401
from ._threads import get_num_threads, set_num_threads  # noqa: E402
from .model import MLP, load  # noqa: E402
from .optim import SGD, Adagrad, Adam, AdamW, Optimizer, RMSprop  # noqa: E402
from ._errors import DivergenceError, NonFiniteOutputError  # noqa: E402
from .trainer import History, Trainer  # noqa: E402

__version__ = "0.1.0"


def __getattr__(name):
    # the estimators need scikit-learn, an optional extra: import on use
    if name in ("MLPClassifier", "MLPRegressor"):
        try:
            from . import estimators
        except ModuleNotFoundError as e:
            if (e.name or "").split(".")[0] != "sklearn":
                raise
            raise ImportError(
                f"jitmlp.{name} needs scikit-learn: pip install scikit-learn "
                f"(or, in the clone, pip install -e \".[sklearn]\")") from e
        return getattr(estimators, name)
    raise AttributeError(f"module 'jitmlp' has no attribute {name!r}")

__all__ = ["MLP", "load", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad",
           "Optimizer", "Trainer",
           "History", "DivergenceError", "NonFiniteOutputError", "schedules", "datasets",
           "set_num_threads", "get_num_threads", "MLPClassifier",
           "MLPRegressor", "__version__"]
