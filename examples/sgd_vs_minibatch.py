"""Per-sample SGD, mini-batches, momentum and Adam: loss against samples
seen and against optimizer steps.

The seed's per-sample SGD ("uniformly sample n": batch 1, each step draws
its sample uniformly with replacement) against shuffled mini-batches of 8,
32 and 128, SGD with momentum 0.9 and Adam, on a nonlinear regression
problem.  Left, the loss against epochs (samples seen); right, against
optimizer steps (log scale): small batches make the most progress per
sample, large ones per update, and an update of a large batch costs more.
The measured seconds are printed, not plotted: they depend on the machine
and its load.  Saves the figure in a temporary folder (``--outdir DIR`` to choose;
``--update-figures`` rewrites ``figures/sgd_vs_minibatch.png``).

    python examples/sgd_vs_minibatch.py [--quick] [--outdir DIR | --update-figures]
"""
import argparse
import os
import sys

import numpy as np

import jitmlp as jm

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _figures import add_figure_args, figure_dir  # noqa: E402



def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    add_figure_args(p)
    args = p.parse_args(argv)
    epochs = 3 if args.quick else 30
    n = 2000 if args.quick else 20000
    X, y = jm.datasets.make_regression(n, n_features=16, seed=0)
    runs = {
        "SGD, batch 1 (uniform)": (jm.SGD(lr=0.005), 1, "uniform"),
        "SGD, batch 8": (jm.SGD(lr=0.02), 8, "epoch"),
        "SGD, batch 32": (jm.SGD(lr=0.05), 32, "epoch"),
        "SGD, batch 128": (jm.SGD(lr=0.05), 128, "epoch"),
        "momentum 0.9, batch 32": (jm.SGD(lr=0.005, momentum=0.9), 32,
                                   "epoch"),
        "Adam, batch 32": (jm.Adam(lr=1e-3), 32, "epoch"),
    }
    hists = {}
    print(f"{'run':26s} {'final loss':>10s} {'steps':>8s} {'seconds':>8s} "
          f"{'samples/s':>11s}")
    for name, (opt, batch, sampling) in runs.items():
        model = jm.MLP([16, 64, 64, 1], seed=0, dtype="float32")
        tr = jm.Trainer(model, opt, batch_size=batch, epochs=epochs,
                        sampling=sampling, seed=0, track_grad_norms=False)
        h = hists[name] = tr.fit(X, y)
        print(f"{name:26s} {h.loss[-1]:10.4f} {sum(h.steps):8d} "
              f"{sum(h.seconds):8.2f} {np.median(h.samples_per_second):11,.0f}")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
    markers = "osv^Dx"
    for i, (name, h) in enumerate(hists.items()):
        kw = dict(marker=markers[i], markevery=max(1, epochs // 6), ms=4,
                  color=f"C{i}")
        h.plot(ax=ax[0], label=name, logy=True, **kw)
        # optimizer steps, not seconds: the same on any machine and load
        h.plot(ax=ax[1], label=name, x="step", logy=True, **kw)
    ax[0].set_xlabel("epoch (= samples seen / n)")
    ax[1].set_xscale("log")
    for a in ax:
        a.set_ylabel("training loss")
    ax[0].set_title("progress per sample seen")
    ax[1].set_title("progress per optimizer step (one update each)")
    ax[0].legend(fontsize=8)
    ax[1].legend(fontsize=8)
    path = os.path.join(figure_dir(args), "sgd_vs_minibatch.png")
    fig.savefig(path, dpi=100)
    print(f"saved {path}")


if __name__ == "__main__":
    main()
