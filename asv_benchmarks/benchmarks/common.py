import numpy as np

import jitmlp as jm

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
