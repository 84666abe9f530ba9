"""Quick start: the three losses on data that ships with scikit-learn.

Regression (diabetes, squared loss), binary classification (breast cancer,
logistic loss with labels -1/+1) and multiclass classification (digits,
softmax cross-entropy), each standardised with a held-out quarter.  Prints
R^2 / accuracy and training time next to scikit-learn's MLP trained with the
same architecture, optimizer and number of epochs; saves
the figure in a temporary folder (``--outdir DIR`` to choose;
``--update-figures`` rewrites ``figures/quickstart.png``).

    python examples/quickstart.py [--quick] [--outdir DIR | --update-figures]
"""
import argparse
import os
import sys
import time
import warnings

import numpy as np
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.preprocessing import StandardScaler

import jitmlp as jm

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _figures import add_figure_args, figure_dir  # noqa: E402



def prepare(X, y, seed=0):
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25,
                                          random_state=seed)
    sx = StandardScaler().fit(Xtr)
    return sx.transform(Xtr), sx.transform(Xte), ytr, yte


def run(task, epochs):
    if task == "diabetes":
        X, y = load_diabetes(return_X_y=True)
        Xtr, Xte, ytr, yte = prepare(X, (y - y.mean()) / y.std(), seed=4)
        loss, out, hidden, est = "squared", 1, [16], MLPRegressor
        act = "tanh"
    elif task == "breast cancer":
        X, y = load_breast_cancer(return_X_y=True)
        Xtr, Xte, ytr, yte = prepare(X, np.where(y == 1, 1, -1))
        loss, out, hidden, est, act = "logistic", 1, [32], MLPClassifier, "relu"
    else:
        X, y = load_digits(return_X_y=True)
        Xtr, Xte, ytr, yte = prepare(X, y)
        loss, out, hidden, est, act = "cross_entropy", 10, [128], MLPClassifier, "relu"
    model = jm.MLP([X.shape[1]] + hidden + [out], activation=act, loss=loss,
                   seed=0)
    trainer = jm.Trainer(model, jm.Adam(lr=1e-3), batch_size=32,
                         epochs=epochs, seed=0)
    t = time.perf_counter()
    trainer.fit(Xtr, ytr)
    t_jm = time.perf_counter() - t
    score_jm = model.score(Xte, yte)
    sk = est(hidden_layer_sizes=tuple(hidden), activation=act, solver="adam",
             learning_rate_init=1e-3, batch_size=32, max_iter=epochs,
             alpha=0.0, random_state=0, n_iter_no_change=epochs + 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "did not converge"
        t = time.perf_counter()
        sk.fit(Xtr, ytr)
        t_sk = time.perf_counter() - t
    score_sk = sk.score(Xte, yte)
    return score_jm, score_sk, t_jm, t_sk


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="a few epochs only")
    add_figure_args(p)
    args = p.parse_args(argv)
    epochs = 3 if args.quick else 100
    tasks = ["diabetes", "breast cancer", "digits"]
    metric = {"diabetes": "R^2", "breast cancer": "accuracy",
              "digits": "accuracy"}
    rows = []
    print(f"{'task':14s} {'metric':9s} {'jitmlp':>8s} {'sklearn':>8s} "
          f"{'jitmlp s':>9s} {'sklearn s':>9s}   ({epochs} epochs, Adam)")
    for task in tasks:
        s_jm, s_sk, t_jm, t_sk = run(task, epochs)
        rows.append((s_jm, s_sk, t_jm, t_sk))
        print(f"{task:14s} {metric[task]:9s} {s_jm:8.3f} {s_sk:8.3f} "
              f"{t_jm:9.3f} {t_sk:9.3f}")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(1, 2, figsize=(9, 3.5))
    x = np.arange(len(tasks))
    ax[0].bar(x - 0.2, [r[0] for r in rows], 0.4, label="jitmlp")
    ax[0].bar(x + 0.2, [r[1] for r in rows], 0.4, label="scikit-learn")
    ax[0].set_xticks(x, [f"{t}\n({metric[t]})" for t in tasks])
    ax[0].set_ylim(0, 1)
    ax[0].set_title("held-out score")
    ax[0].legend()
    ax[1].bar(x - 0.2, [r[2] for r in rows], 0.4, label="jitmlp")
    ax[1].bar(x + 0.2, [r[3] for r in rows], 0.4, label="scikit-learn")
    ax[1].set_xticks(x, tasks)
    ax[1].set_yscale("log")
    ax[1].set_title(f"training time, {epochs} epochs (s)")
    fig.tight_layout()
    path = os.path.join(figure_dir(args), "quickstart.png")
    fig.savefig(path, dpi=100)
    print(f"saved {path}")


if __name__ == "__main__":
    main()
