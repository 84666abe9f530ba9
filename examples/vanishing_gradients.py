"""Vanishing gradients and their remedies, from History's per-layer norms.

The mean gradient norm ||dW^(l)|| of every layer during the first epoch, at
depths 5, 20 and 50, for sigmoid (Xavier), ReLU (He), ReLU with residual
connections and ReLU with BatchNorm.  Sigmoid's delta recursion multiplies
by phi' <= 1/4 per layer: the first layers get nothing; skip connections and
normalisation keep the norms flat.  Saves the figure in a temporary folder (``--outdir DIR`` to choose;
``--update-figures`` rewrites ``figures/vanishing_gradients.png``).

    python examples/vanishing_gradients.py [--quick] [--outdir DIR | --update-figures]
"""
import argparse
import os
import sys

import numpy as np

import jitmlp as jm

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _figures import add_figure_args, figure_dir  # noqa: E402


NETS = {
    "sigmoid": dict(activation="sigmoid", init="xavier"),
    "ReLU": dict(activation="relu"),
    # residual branches scaled by 1/sqrt(L) at init (else the sum of L
    # branches grows the activations geometrically): set per depth below
    "ReLU + residual": dict(activation="relu", residual=True),
    "ReLU + BatchNorm": dict(activation="relu", norm="batch"),
}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    add_figure_args(p)
    args = p.parse_args(argv)
    depths = [5, 20] if args.quick else [5, 20, 50]
    X, y = jm.datasets.make_regression(512 if args.quick else 4096,
                                       n_features=32, seed=0)
    width = 32 if args.quick else 64
    norms = {}
    print(f"{'network':18s} {'depth':>5s} {'||dW1|| / ||dW_L||':>20s}")
    for name, kw in NETS.items():
        for L in depths:
            if kw.get("residual"):
                kw = dict(kw, init_scale=1.0 / np.sqrt(L))
            model = jm.MLP([32] + [width] * L + [1], seed=0, **kw)
            # a small rate: the norms stay those of the initial network
            tr = jm.Trainer(model, jm.SGD(lr=1e-4), batch_size=32, epochs=1,
                            seed=0)
            h = tr.fit(X, y)
            g = h.grad_norms[0][:-1]   # hidden layers, first to last
            norms[(name, L)] = g
            print(f"{name:18s} {L:5d} {g[0] / g[-1]:20.3g}")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(depths), figsize=(4 * len(depths), 3.8),
                             squeeze=False)
    for ax, L in zip(axes[0], depths):
        for name in NETS:
            ax.semilogy(np.arange(1, L + 1), norms[(name, L)], label=name)
        ax.set_title(f"depth {L}")
        ax.set_xlabel("layer l")
    axes[0][0].set_ylabel("mean ||dW^(l)||, first epoch")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    path = os.path.join(figure_dir(args), "vanishing_gradients.png")
    fig.savefig(path, dpi=100)
    print(f"saved {path}")


if __name__ == "__main__":
    main()
