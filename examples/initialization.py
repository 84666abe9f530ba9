"""He initialisation: sigma = sqrt(2/K) keeps a deep ReLU network trainable.

A 30-layer ReLU network trained with sigma = sqrt(2/K) (He), half of it,
twice it, and Xavier's sigma = sqrt(2/(K_in+K_out)); left, the per-layer
variance of the pre-activations z^(l) at initialisation (He stays flat, the
others shrink or grow geometrically, by 0.25 or 4 per layer); right, the
training loss.  Saves the figure in a temporary folder (``--outdir DIR`` to choose;
``--update-figures`` rewrites ``figures/initialization.png``).

    python examples/initialization.py [--quick] [--outdir DIR | --update-figures]
"""
import argparse
import os
import sys

import numpy as np

import jitmlp as jm

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _figures import add_figure_args, figure_dir  # noqa: E402

DEPTH = 30


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    add_figure_args(p)
    args = p.parse_args(argv)
    epochs = 2 if args.quick else 30
    width = 64
    X, y = jm.datasets.make_spirals(1000 if args.quick else 6000, seed=0)
    X = np.hstack([X, np.zeros((len(X), 6))])
    runs = {"He, sigma = sqrt(2/K)": ("he", 1.0),
            "He x 0.5": ("he", 0.5),
            "He x 2": ("he", 2.0),
            "Xavier": ("xavier", 1.0)}
    variances, hists = {}, {}
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
            hists[name] = tr.fit(X, y)
        except jm.DivergenceError as e:
            hists[name] = e.history   # marked "diverged" in the plot
        h = hists[name]
        ratio = variances[name][-1] / variances[name][0]
        last = h.loss[-1] if h.loss else float("nan")
        first = h.loss[0] if h.loss else float("nan")
        status = "  (diverged)" if h.diverged else ""
        print(f"{name:24s} {ratio:18.3g} {first:10.4g} {last:10.4g}{status}")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
    # distinct styles: Xavier's curves lie on He x 0.5's (for equal widths
    # Xavier's sigma is He's / sqrt 2)
    styles = [dict(linestyle="-", marker="o", markevery=3),
              dict(linestyle="--", marker="s", markevery=3),
              dict(linestyle=":", marker="^", markevery=3),
              dict(linestyle="-.", marker="d", markevery=(1, 3), ms=4)]
    for (name, h), st in zip(hists.items(), styles):
        line, = ax[0].semilogy(np.arange(1, DEPTH + 1), variances[name],
                               label=name, **st)
        h.plot(ax=ax[1], label=name, color=line.get_color(), logy=True,
               **st)
    ax[0].set_xlabel("layer l")
    ax[0].set_ylabel("Var z^(l) at initialisation")
    ax[0].legend(fontsize=8)
    ax[1].set_ylabel("training loss")
    # a diverging epoch's mean loss can be astronomic: keep the others legible
    ok = [v for h in hists.values() if not h.diverged for v in h.loss]
    if ok:
        ax[1].set_ylim(min(ok) / 1.5, max(ok) * 3)
    ax[1].set_title("training (SGD, momentum 0.9, lr 0.01)")
    ax[0].set_title("pre-activation variance at initialisation")
    fig.suptitle(f"{DEPTH}-layer ReLU network, width {width}")
    path = os.path.join(figure_dir(args), "initialization.png")
    fig.savefig(path, dpi=100)
    print(f"saved {path}")


if __name__ == "__main__":
    main()
