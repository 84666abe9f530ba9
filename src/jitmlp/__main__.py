"""``python -m jitmlp``: train a network on generated spirals and report.

Prints the loss of every epoch, held-out accuracy and samples/s.
"""
import argparse
import time

import numpy as np


def main(argv=None):
    p = argparse.ArgumentParser(
        prog="python -m jitmlp",
        description="Train a 2-128-128-3 network (LayerNorm, Adam, cosine "
                    "schedule) on generated spirals; print the loss of every "
                    "epoch, held-out accuracy and samples/s.  The first run "
                    "of an installation compiles the kernels (~10-25 s) and "
                    "caches them for later runs.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--epochs", type=int, default=20, help="training epochs")
    p.add_argument("--batch-size", type=int, default=32,
                   help="rows per optimizer step")
    p.add_argument("--samples", type=int, default=20000,
                   help="spiral points generated (1/5 held out)")
    p.add_argument("--dtype", default="float32",
                   choices=["float32", "float64"], help="floating-point type")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the data, the weights and the order")
    args = p.parse_args(argv)

    import jitmlp as jm

    X, y = jm.datasets.make_spirals(args.samples, n_classes=3, seed=args.seed)
    n_test = len(X) // 5
    Xtr, ytr, Xte, yte = X[n_test:], y[n_test:], X[:n_test], y[:n_test]
    model = jm.MLP([2, 128, 128, 3], loss="cross_entropy", norm="layer",
                   dtype=args.dtype, seed=args.seed)
    trainer = jm.Trainer(model, jm.Adam(lr=3e-3), batch_size=args.batch_size,
                         epochs=args.epochs, seed=args.seed,
                         schedule=jm.schedules.Cosine(
                             T=args.epochs * -(-len(Xtr) // args.batch_size),
                             eta_min=1e-4))
    print(f"jitmlp {jm.__version__}: {model!r}, {model.n_params} parameters, "
          f"{len(Xtr)} training / {len(Xte)} held-out spiral samples")
    t1 = time.perf_counter()
    first = []

    def report(tr, hist):   # each epoch's line as soon as it ends
        if not first:
            first.append(time.perf_counter() - t1)
        e = len(hist) - 1
        print(f"epoch {e + 1:3d}  loss {hist.loss[e]:.4f}  val_loss "
              f"{hist.val_loss[e]:.4f}  val_acc {hist.val_accuracy[e]:.4f}  "
              f"{hist.samples_per_second[e]:,.0f} samples/s", flush=True)
        return False

    trainer.callbacks = [report]
    hist = trainer.fit(Xtr, ytr, validation_data=(Xte, yte))
    wall = time.perf_counter() - t1
    acc = model.score(Xte, yte)
    steady = np.median(hist.samples_per_second[1:] or hist.samples_per_second)
    print(f"held-out accuracy {acc:.4f}")
    print(f"training: {steady:,.0f} samples/s (median epoch); first epoch "
          f"{first[0]:.2f} s wall (with the compile or cache load, when one "
          f"was due); fit {wall:.2f} s wall")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
