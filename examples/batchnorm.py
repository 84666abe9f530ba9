"""BatchNorm: faster convergence and tolerance of much larger learning rates.

A 10-layer tanh network on spirals, trained with SGD over a grid of learning
rates spanning 30x, without normalisation, with BatchNorm and with
LayerNorm: final training loss against the learning rate (left) and the loss
curves at one rate (right).  The held-out accuracy is measured in evaluation
mode, i.e. with BatchNorm's running statistics (EMA), and compared with the
batch-statistics (training-mode) accuracy.  Saves ``figures/batchnorm.png``.

    python examples/batchnorm.py [--quick]
"""
import argparse
import os

import numpy as np

import jitmlp as jm

HERE = os.path.dirname(os.path.abspath(__file__))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)
    epochs = 2 if args.quick else 20
    lrs = [0.01, 0.03, 0.3] if args.quick else [0.01, 0.02, 0.05, 0.1, 0.2,
                                                  0.3]
    X, y = jm.datasets.make_spirals(1500 if args.quick else 8000, seed=0)
    n_te = len(X) // 5
    Xtr, ytr, Xte, yte = X[n_te:], y[n_te:], X[:n_te], y[:n_te]
    sizes = [2] + [64] * 10 + [3]
    final = {}
    curves = {}
    print(f"{'norm':6s} " + " ".join(f"lr={lr:<6g}" for lr in lrs)
          + "  (final training loss)")
    for norm in (None, "batch", "layer"):
        final[norm] = []
        for lr in lrs:
            model = jm.MLP(sizes, activation="tanh", norm=norm,
                           loss="cross_entropy", init="xavier", seed=0)
            tr = jm.Trainer(model, jm.SGD(lr=lr), batch_size=64,
                            epochs=epochs, seed=0)
            try:
                h = tr.fit(Xtr, ytr)
                final[norm].append(h.loss[-1])
                curves[(norm, lr)] = h.loss
            except jm.DivergenceError:
                final[norm].append(np.nan)
            if norm == "batch" and lr == lrs[-2]:
                acc_eval = model.eval().score(Xte, yte)
                acc_train = model.train().score(Xte, yte)
                model.eval()
        print(f"{str(norm):6s} " + " ".join(f"{v:<9.4f}" for v in final[norm]))
    print(f"BatchNorm at lr={lrs[-2]}: held-out accuracy {acc_eval:.4f} with "
          f"running statistics (eval), {acc_train:.4f} with batch statistics")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(1, 2, figsize=(10, 4))
    labels = {None: "no normalisation", "batch": "BatchNorm",
              "layer": "LayerNorm"}
    for norm in final:
        ax[0].semilogx(lrs, final[norm], "o-", label=labels[norm])
        c = curves.get((norm, lrs[1]))
        if c is not None:
            ax[1].plot(np.arange(1, len(c) + 1), c, label=labels[norm])
    ax[0].set_xlabel("learning rate")
    ax[0].set_ylabel(f"training loss after {epochs} epochs")
    ax[0].set_yscale("log")
    ax[1].set_xlabel("epoch")
    ax[1].set_ylabel(f"training loss, lr = {lrs[1]}")
    ax[1].set_yscale("log")
    ax[0].legend()
    fig.suptitle("10-layer tanh network on spirals, plain SGD")
    fig.tight_layout()
    os.makedirs(os.path.join(HERE, "figures"), exist_ok=True)
    path = os.path.join(HERE, "figures", "batchnorm.png")
    fig.savefig(path, dpi=100)
    print(f"saved {path}")


if __name__ == "__main__":
    main()
