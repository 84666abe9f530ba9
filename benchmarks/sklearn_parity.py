"""scikit-learn's MLP against jitmlp's estimators with the same
hyper-parameters: held-out score and fit time side by side.

    python benchmarks/sklearn_parity.py [--repeats 3] [--threads 1]

Problems: digits and breast cancer (classification), diabetes (regression),
a multi-label problem (make_multilabel_classification) and a sparse text
problem (TF-IDF of 10,000 generated documents, 20,000 words, kept as a
scipy.sparse CSR matrix, 10 epochs), each with Adam and with L-BFGS.  Both
libraries run in this process, interleaved, with the same BLAS thread
count (threadpoolctl); the best of ``--repeats`` fits is shown.  The
TF-IDF benchmark at the issue's size (50,000 features) with memory:
``benchmarks/sparse.py``.
"""
import argparse
import time
import warnings

import numpy as np


def problems():
    from sklearn.datasets import (load_breast_cancer, load_diabetes,
                                  load_digits, make_multilabel_classification)
    X, y = load_digits(return_X_y=True)
    yield "digits", "clf", X, y
    X, y = load_breast_cancer(return_X_y=True)
    yield "breast cancer", "clf", X, y
    X, y = load_diabetes(return_X_y=True)
    yield "diabetes", "reg", X, (y - y.mean()) / y.std()
    X, Y = make_multilabel_classification(n_samples=2000, n_features=20,
                                          n_classes=5, random_state=0)
    yield "multi-label", "clf", X, Y
    import os
    import sys
    from sklearn.feature_extraction.text import TfidfVectorizer
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from sparse import corpus
    docs, y = corpus(10_000, 20_000, 165, 0.05)
    yield "text (sparse)", "text", TfidfVectorizer().fit_transform(docs), y


def main():
    p = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=3,
                   help="fits per library and problem (best time shown)")
    p.add_argument("--threads", type=int, default=1,
                   help="BLAS threads for both libraries")
    args = p.parse_args()

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    import jitmlp as jm

    warnings.simplefilter("ignore", ConvergenceWarning)
    print(f"{'problem':14s} {'solver':6s} {'sklearn score':>13s} "
          f"{'jitmlp score':>12s} {'sklearn s':>9s} {'jitmlp s':>8s} "
          f"{'speed-up':>8s}")
    with threadpool_limits(args.threads):
        for name, kind, X, y in problems():
            Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25,
                                                  random_state=0)
            if kind == "text":    # TF-IDF rows are normalised and sparse
                kind, iters = "clf", 10
            else:
                sc = StandardScaler().fit(Xtr)
                Xtr, Xte = sc.transform(Xtr), sc.transform(Xte)
                iters = 200
            for solver, extra in (("adam", dict(max_iter=iters)),
                                  ("lbfgs", dict(max_iter=iters, tol=0.0))):
                kw = dict(hidden_layer_sizes=(64,), solver=solver,
                          random_state=0, **extra)
                peers = ((MLPClassifier, jm.MLPClassifier) if kind == "clf"
                         else (MLPRegressor, jm.MLPRegressor))
                peers[1](**dict(kw, max_iter=2)).fit(Xtr, ytr)   # warm up
                best = {0: np.inf, 1: np.inf}
                score = {}
                for _ in range(args.repeats):
                    for i, cls in enumerate(peers):      # interleaved
                        t0 = time.perf_counter()
                        est = cls(**kw).fit(Xtr, ytr)
                        best[i] = min(best[i], time.perf_counter() - t0)
                        score[i] = est.score(Xte, yte)
                print(f"{name:14s} {solver:6s} {score[0]:13.4f} "
                      f"{score[1]:12.4f} {best[0]:9.3f} {best[1]:8.3f} "
                      f"{best[0] / best[1]:7.2f}x", flush=True)


if __name__ == "__main__":
    main()
