"""He initialisation: sigma = sqrt(2/K) keeps a deep ReLU network trainable.

A 30-layer ReLU network trained with sigma = sqrt(2/K) (He), half of it,
twice it, and Xavier's sigma = sqrt(2/(K_in+K_out)); left, the per-layer
variance of the pre-activations z^(l) at initialisation (He stays flat, the
others shrink or grow geometrically, by 0.25 or 4 per layer); right, the
training loss.  Saves ``figures/initialization.png``.

    python examples/initialization.py [--quick]
"""
import argparse
import os

import numpy as np

import jitmlp as jm

HERE = os.path.dirname(os.path.abspath(__file__))
DEPTH = 30


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--outdir", default=os.path.join(HERE, "figures"),
                   help="where to save the figure")
    args = p.parse_args(argv)
    epochs = 2 if args.quick else 30
    width = 64
    X, y = jm.datasets.make_spirals(1000 if args.quick else 6000, seed=0)
    X = np.hstack([X, np.zeros((len(X), 6))])
    runs = {"He, sigma = sqrt(2/K)": ("he", 1.0),
            "He x 0.5": ("he", 0.5),
            "He x 2": ("he", 2.0),
            "Xavier": ("xavier", 1.0)}
    variances, losses = {}, {}
    probe = np.random.default_rng(1).standard_normal((512, 8))
    print(f"{'init':24s} {'Var z(30)/Var z(1)':>18s} {'loss first':>10s} "
          f"{'loss last':>10s}")
    for name, (init, scale) in runs.items():
        model = jm.MLP([8] + [width] * DEPTH + [3], init=init,
                       init_scale=scale, loss="cross_entropy", seed=0)
        z = model.preactivations(probe)[:-1]
        variances[name] = np.array([zl.var() for zl in z])
        tr = jm.Trainer(model, jm.SGD(lr=0.01, momentum=0.9), batch_size=32,
                        epochs=epochs, seed=0)
        try:
            h = tr.fit(X, y)
            losses[name] = h.loss
        except jm.DivergenceError as e:
            losses[name] = e.history.loss
        ratio = variances[name][-1] / variances[name][0]
        last = losses[name][-1] if losses[name] else float("nan")
        first = losses[name][0] if losses[name] else float("nan")
        print(f"{name:24s} {ratio:18.3g} {first:10.4f} {last:10.4f}")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(1, 2, figsize=(10, 4))
    for name in runs:
        ax[0].semilogy(np.arange(1, DEPTH + 1), variances[name], label=name)
        ax[1].plot(np.arange(1, len(losses[name]) + 1), losses[name],
                   label=name)
    ax[0].set_xlabel("layer l")
    ax[0].set_ylabel("Var z^(l) at initialisation")
    ax[1].set_xlabel("epoch")
    ax[1].set_ylabel("training loss")
    ax[0].legend(fontsize=8)
    fig.suptitle(f"{DEPTH}-layer ReLU network, width {width}")
    fig.tight_layout()
    os.makedirs(args.outdir, exist_ok=True)
    path = os.path.join(args.outdir, "initialization.png")
    fig.savefig(path, dpi=100)
    print(f"saved {path}")


if __name__ == "__main__":
    main()
