"""Per-sample SGD, mini-batches, momentum and Adam: loss against epochs and
against seconds.

The seed's per-sample SGD ("uniformly sample n": batch 1, each step draws
its sample uniformly with replacement) against shuffled mini-batches of 8,
32 and 128, SGD with momentum 0.9 and Adam, on a nonlinear regression
problem.  Small batches make the most progress per epoch; per second the
picture changes.  Saves ``figures/sgd_vs_minibatch.png``.

    python examples/sgd_vs_minibatch.py [--quick]
"""
import argparse
import os

import numpy as np

import jitmlp as jm

HERE = os.path.dirname(os.path.abspath(__file__))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--outdir", default=os.path.join(HERE, "figures"),
                   help="where to save the figure")
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
    curves = {}
    print(f"{'run':26s} {'final loss':>10s} {'seconds':>8s} {'samples/s':>11s}")
    for name, (opt, batch, sampling) in runs.items():
        model = jm.MLP([16, 64, 64, 1], seed=0, dtype="float32")
        tr = jm.Trainer(model, opt, batch_size=batch, epochs=epochs,
                        sampling=sampling, seed=0, track_grad_norms=False)
        h = tr.fit(X, y)
        curves[name] = (np.array(h.loss), np.cumsum(h.seconds))
        print(f"{name:26s} {h.loss[-1]:10.4f} {sum(h.seconds):8.2f} "
              f"{np.median(h.samples_per_second):11,.0f}")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(1, 2, figsize=(10, 4))
    for name, (loss, secs) in curves.items():
        ax[0].plot(np.arange(1, len(loss) + 1), loss, label=name)
        ax[1].plot(secs, loss, label=name)
    for a, xl in zip(ax, ["epoch", "seconds (training kernel)"]):
        a.set_yscale("log")
        a.set_xlabel(xl)
        a.set_ylabel("training loss")
    ax[0].legend(fontsize=8)
    fig.tight_layout()
    os.makedirs(args.outdir, exist_ok=True)
    path = os.path.join(args.outdir, "sgd_vs_minibatch.png")
    fig.savefig(path, dpi=100)
    print(f"saved {path}")


if __name__ == "__main__":
    main()
