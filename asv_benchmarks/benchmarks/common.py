import time

import numpy as np

import jitmlp as jm


class Stable:
    """Settings every timing benchmark shares, so that two runs of the same
    code agree within asv's factor 1.3 on a shared 2-core machine:

    * one thread (Numba and BLAS, set by :func:`pin` in each ``setup``): two
      threads that wait on each other turn another program's load into 10x
      swings, and the thread governor's probes would add their own noise;
    * CPU time of this process (``time.process_time``) instead of wall time:
      time the benchmark spends descheduled by other programs does not count
      (with one thread, CPU time is the work done);
    * warm-up and enough samples: asv's median over ``repeat`` samples in
      each of ``rounds`` rounds.
    """
    timer = time.process_time
    warmup_time = 0.1
    rounds = 2
    repeat = (3, 10, 4.0)
    sample_time = 0.02


def cpu_rate(fn, units, min_calls=5, min_seconds=0.3):
    """Median of ``units`` per CPU second over calls of ``fn``: at least
    ``min_calls`` calls and ``min_seconds`` of CPU time (a tiny epoch takes
    ~8 ms, and one or three of them gave 1.35x apart between two runs of
    the same code)."""
    rates = []
    spent = 0.0
    while len(rates) < min_calls or spent < min_seconds:
        t = time.process_time()
        fn()
        dt = time.process_time() - t
        spent += dt
        rates.append(units / max(dt, 1e-9))
    rates.sort()
    return rates[len(rates) // 2]


def pin():
    """One thread for the kernels (see :class:`Stable`)."""
    jm.set_num_threads(1)

# name: (d, hidden, out, batch, optimizer, loss, norm, n_samples)
CONFIGS = {
    "tiny": (16, [32], 1, 1, "sgd", "squared", None, 4000),
    "tabular": (32, [64, 64], 1, 32, "momentum", "squared", None, 16384),
    "mnist": (784, [256, 256], 10, 128, "adam", "cross_entropy", None, 4096),
    "deep_bn": (128, [512] * 4, 10, 256, "momentum", "cross_entropy",
                "batch", 4096),
    "wide": (1024, [2048, 2048], 10, 512, "sgd", "cross_entropy", None, 2048),
}


def optimizer(kind):
    return {"sgd": lambda: jm.SGD(lr=0.01),
            "momentum": lambda: jm.SGD(lr=0.01, momentum=0.9),
            "adam": lambda: jm.Adam(lr=1e-3),
            "adamw": lambda: jm.AdamW(lr=1e-3),
            "rmsprop": lambda: jm.RMSprop(lr=1e-3),
            "adagrad": lambda: jm.Adagrad(lr=1e-2)}[kind]()


def data(d, out, loss, n, dtype, seed=0):
    r = np.random.default_rng(seed)
    X = r.standard_normal((n, d)).astype(dtype)
    y = (r.standard_normal(n).astype(dtype) if loss == "squared"
         else r.integers(0, out, n))
    return X, y


def build(config, dtype):
    d, hidden, out, batch, opt, loss, norm, n = CONFIGS[config]
    model = jm.MLP([d] + hidden + [out], loss=loss, norm=norm, dtype=dtype,
                   seed=0)
    trainer = jm.Trainer(model, optimizer(opt), batch_size=batch, epochs=1,
                         seed=0, track_grad_norms=False)
    X, y = data(d, out, loss, n, dtype)
    return model, trainer, X, y
