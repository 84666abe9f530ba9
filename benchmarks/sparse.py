"""Sparse (TF-IDF) input: scikit-learn's MLPClassifier against jitmlp's on a
text-classification-shaped problem, same hyper-parameters.

    python benchmarks/sparse.py [--n 10000] [--d 50000] [--epochs 5]
                                [--repeats 2] [--threads N]

The corpus is generated: ``--n`` documents of ~``--words`` tokens over a
vocabulary of ``--d`` words, background words drawn from a Zipf law and a
share ``--signal`` of each document's tokens from a topic's own 400 words
(5 topics, the labels).  scikit-learn's ``TfidfVectorizer`` turns it into a
CSR matrix (~0.3 % density at the defaults); 80 % of the documents train,
20 % test.  Both estimators: hidden (64,), relu, Adam (lr 1e-3),
batch_size 200, alpha 1e-4, ``--epochs`` epochs (tol=0: no early stop),
in ``--dtype`` (scikit-learn computes in the dtype of X, jitmlp in its
``dtype`` parameter: both get the same).  They run in this process, interleaved, with the same BLAS and
Numba thread counts; the best fit time of ``--repeats`` is shown, with the
held-out accuracy and the peak memory of a fit (tracemalloc: the Python
heap and numpy's buffers, which is where both keep their arrays).
"""
import argparse
import time
import tracemalloc
import warnings

import numpy as np


def corpus(n, d, words, signal, seed=0):
    """(documents, labels): generated text, a learnable topic per document."""
    r = np.random.default_rng(seed)
    vocab = np.array([f"w{k}" for k in range(d)])
    cdf = np.cumsum(1.0 / np.arange(1, d + 1) ** 0.8)
    cdf /= cdf[-1]
    topics = [r.choice(d, 400, replace=False) for _ in range(5)]
    y = r.integers(0, 5, n)
    docs = []
    for i in range(n):
        m = r.poisson(words)
        k = r.binomial(m, signal)
        toks = np.r_[np.searchsorted(cdf, r.random(m - k)),
                     r.choice(topics[y[i]], k)]
        docs.append(" ".join(vocab[toks]))
    return docs, y


def timed(make, X, y, Xte, yte):
    tracemalloc.start()
    t0 = time.perf_counter()
    est = make().fit(X, y)
    secs = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return secs, est.score(Xte, yte), peak


def main():
    p = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=10_000, help="documents")
    p.add_argument("--d", type=int, default=50_000, help="vocabulary size")
    p.add_argument("--words", type=int, default=165,
                   help="mean tokens per document")
    p.add_argument("--signal", type=float, default=0.05,
                   help="share of a document's tokens from its topic")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--repeats", type=int, default=2,
                   help="fits per library (best time shown)")
    p.add_argument("--dtype", default="float64",
                   choices=("float64", "float32"),
                   help="dtype of X and of both networks")
    p.add_argument("--threads", type=int, default=None,
                   help="BLAS and Numba threads for both libraries (default: "
                        "Numba's default, all cores, which is also what "
                        "scikit-learn's BLAS uses by default)")
    args = p.parse_args()

    import numba
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.neural_network import MLPClassifier
    from threadpoolctl import threadpool_limits

    import jitmlp as jm

    warnings.simplefilter("ignore", ConvergenceWarning)
    if args.threads is None:
        args.threads = numba.config.NUMBA_NUM_THREADS
    numba.set_num_threads(args.threads)
    docs, y = corpus(args.n, args.d, args.words, args.signal)
    X = TfidfVectorizer(token_pattern=r"\S+").fit_transform(docs)
    X = X.astype(args.dtype)
    cut = int(0.8 * args.n)
    Xtr, Xte, ytr, yte = X[:cut], X[cut:], y[:cut], y[cut:]
    n, d = X.shape
    csr = X.data.nbytes + X.indices.nbytes + X.indptr.nbytes
    print(f"TF-IDF: {n} documents x {d} features, nnz {X.nnz} "
          f"(density {X.nnz / n / d:.3%}, CSR {csr / 2**20:.0f} MiB; dense "
          f"float64 would be {n * d * 8 / 2**20:.0f} MiB)")
    kw = dict(hidden_layer_sizes=(64,), activation="relu", solver="adam",
              learning_rate_init=1e-3, batch_size=200, alpha=1e-4,
              max_iter=args.epochs, tol=0.0, random_state=0)
    peers = {"scikit-learn": lambda: MLPClassifier(**kw),
             "jitmlp": lambda: jm.MLPClassifier(**kw, dtype=args.dtype)}
    peers["jitmlp"]().set_params(max_iter=1).fit(Xtr[:400], ytr[:400])
    best = {k: (np.inf, None, None) for k in peers}
    with threadpool_limits(args.threads):
        for _ in range(args.repeats):
            for name, make in peers.items():            # interleaved
                secs, acc, peak = timed(make, Xtr, ytr, Xte, yte)
                if secs < best[name][0]:
                    best[name] = (secs, acc, peak)
    print(f"{'library':13s} {'fit s':>7s} {'accuracy':>8s} "
          f"{'peak MiB':>8s}")
    for name, (secs, acc, peak) in best.items():
        print(f"{name:13s} {secs:7.2f} {acc:8.4f} {peak / 2**20:8.1f}")
    print(f"speed-up {best['scikit-learn'][0] / best['jitmlp'][0]:.1f}x "
          f"({args.epochs} epochs, {args.dtype}, {args.threads} thread(s))")


if __name__ == "__main__":
    main()
