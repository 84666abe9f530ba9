"""The seed's complexity, measured: time per training step against width K
and depth L (batch 64, float32, plain SGD), and the fitted exponents of
t = c * K^a * L^b over the points where the products dominate (K >= 256).

    python benchmarks/scaling.py

The asv class ``StepScaling`` (asv_benchmarks/benchmarks/scaling.py) tracks
the same sweep over commits.
"""
import time

import numpy as np

import jitmlp as jm

KS = [64, 128, 256, 512, 1024]
LS = [1, 2, 4, 8]
B = 64
STEPS = 40


def step_time(K, L):
    model = jm.MLP([K] * (L + 1) + [1], dtype="float32", seed=0)
    tr = jm.Trainer(model, jm.SGD(lr=1e-4), batch_size=B, epochs=1, seed=0,
                    shuffle=False, track_grad_norms=False)
    r = np.random.default_rng(0)
    X = r.standard_normal((B * STEPS, K)).astype(np.float32)
    y = r.standard_normal(B * STEPS).astype(np.float32)
    tr.fit(X, y)
    best = np.inf
    for _ in range(5):
        t = time.perf_counter()
        tr.fit(X, y)
        best = min(best, time.perf_counter() - t)
    return best / STEPS


def main():
    T = np.array([[step_time(K, L) for L in LS] for K in KS])
    print("seconds per step (batch 64, float32); rows K, columns L")
    print("K \\ L " + "".join(f"{L:>11d}" for L in LS))
    for K, row in zip(KS, T):
        print(f"{K:5d} " + "".join(f"{t * 1e6:9.1f}us" for t in row))
    mask = np.array(KS) >= 256
    k, l = np.meshgrid(np.log(KS), np.log(LS), indexing="ij")
    A = np.column_stack([np.ones(mask.sum() * len(LS)),
                         k[mask].ravel(), l[mask].ravel()])
    coef, *_ = np.linalg.lstsq(A, np.log(T[mask]).ravel(), rcond=None)
    print(f"fit over K >= 256: t ~ K^{coef[1]:.2f} * L^{coef[2]:.2f}  "
          f"(the seed's O(K^2 L): exponents 2 and 1)")


if __name__ == "__main__":
    import argparse
    argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    main()
