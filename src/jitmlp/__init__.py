"""jitmlp: fully connected networks trained fast on the CPU with Numba kernels.

>>> import jitmlp as jm
>>> model = jm.MLP([64, 128, 10], loss="cross_entropy", seed=0)
>>> trainer = jm.Trainer(model, jm.SGD(lr=0.1), batch_size=32, epochs=20)
"""
from . import datasets, schedules
from ._threads import get_num_threads, set_num_threads
from .model import MLP, load
from .optim import SGD, Adam, AdamW, Optimizer
from .trainer import DivergenceError, History, Trainer

__version__ = "0.1.0"

__all__ = ["MLP", "load", "SGD", "Adam", "AdamW", "Optimizer", "Trainer",
           "History", "DivergenceError", "schedules", "datasets",
           "set_num_threads", "get_num_threads", "__version__"]
