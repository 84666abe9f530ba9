"""Snapshots of everything a refused call must leave alone, shared by the
reliability and property tests."""
import numpy as np


def snapshot(trainer):
    """(params, stats, optimizer state, step count, epoch count, epochs in
    the history, training mode), all copied."""
    m, o = trainer.model, trainer.optimizer
    return (m.params.copy(), m.stats.copy(),
            None if o.state is None else
            {k: v.copy() for k, v in o.state.items()}, o.t, trainer.epoch,
            len(trainer.history), m.training)


def same(a, b):
    """Two snapshots (or parts of them) are equal, arrays bit for bit."""
    for x, y in zip(a, b):
        if isinstance(x, dict):
            if x.keys() != y.keys() or not all(np.array_equal(x[k], y[k])
                                               for k in x):
                return False
        elif isinstance(x, np.ndarray):
            if not np.array_equal(x, y):
                return False
        elif x != y:
            return False
    return True
