"""Compile and cache-load cost: import time, the first fit in a fresh process
with an empty Numba cache, with a warm cache, the second fit, the first
predict after them, and the sum to a first prediction (import + first fit +
first predict).

    python benchmarks/compile_time.py

Each measurement runs in a new Python process; the empty-cache case points
NUMBA_CACHE_DIR at a fresh temporary folder.
"""
import json
import os
import subprocess
import sys
import tempfile

CHILD = r"""
import json, time
t0 = time.perf_counter()
import jitmlp as jm
t_import = time.perf_counter() - t0
import numpy as np
X = np.random.default_rng(0).standard_normal((512, 32))
y = X[:, 0]
m = jm.MLP([32, 64, 64, 1], dtype=DTYPE, seed=0)
tr = jm.Trainer(m, jm.Adam(lr=1e-3), epochs=1, seed=0)
t0 = time.perf_counter(); tr.fit(X, y); first = time.perf_counter() - t0
t0 = time.perf_counter(); tr.fit(X, y); second = time.perf_counter() - t0
t0 = time.perf_counter(); m.predict(X); pred = time.perf_counter() - t0
print(json.dumps(dict(t_import=t_import, first=first, second=second, predict=pred)))
"""


def run(dtype, cache_dir):
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    out = subprocess.run([sys.executable, "-c",
                          CHILD.replace("DTYPE", repr(dtype))],
                         capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    print(f"{'dtype':8s} {'cache':6s} {'import':>8s} {'1st fit':>8s} "
          f"{'2nd fit':>8s} {'1st - 2nd':>9s} {'predict':>8s} "
          f"{'to 1st prediction':>17s}")
    for dtype in ("float32", "float64"):
        with tempfile.TemporaryDirectory() as d:
            for label in ("empty", "warm", "warm"):
                r = run(dtype, d)
                print(f"{dtype:8s} {label:6s} {r['t_import']:8.2f} "
                      f"{r['first']:8.2f} {r['second']:8.3f} "
                      f"{r['first'] - r['second']:9.2f} "
                      f"{r['predict']:8.3f} "
                      f"{r['t_import'] + r['first'] + r['predict']:17.2f}")


if __name__ == "__main__":
    import argparse
    argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    main()
