"""Peer comparison: samples/s of one training epoch, jitmlp against PyTorch
(eager), JAX (jit of the whole train step, optax) and scikit-learn's MLP,
interleaved round by round in one process, plus the floor (the step's matrix
products alone through numpy's BLAS).

    pip install -e ".[bench]"
    python benchmarks/compare.py [--dtypes float32 float64] [--rounds 3]
        [--configs tiny tabular mnist deep_bn wide] [--peers torch jax sklearn]
    python benchmarks/compare.py --contention [--configs ...] [--peers ...]

Prints a table of samples/s (median over rounds) and ratios jitmlp/peer.
``--contention`` measures every runner twice, on the quiet machine and
with one busy process beside it (started and stopped by the script, and
ending by itself after --busy-seconds at the latest), and prints what each
keeps; jitmlp's figure to beat is its own single-thread quiet speed.
A script, not a test: peers are optional and never needed by the tests.
"""
import argparse
import os
import platform
import statistics
import sys
import time

import numpy as np

CONFIGS = {
    # name: (d, hidden, out, batch, optimizer, loss, norm, n_samples)
    "tiny": (16, [32], 1, 1, "sgd", "squared", None, 20000),
    "tabular": (32, [64, 64], 1, 32, "momentum", "squared", None, 65536),
    "mnist": (784, [256, 256], 10, 128, "adam", "cross_entropy", None, 8192),
    "deep_bn": (128, [512] * 4, 10, 256, "momentum", "cross_entropy", "batch",
                8192),
    "wide": (1024, [2048, 2048], 10, 512, "sgd", "cross_entropy", None, 4096),
}
LR = 0.01


def make_data(cfg, dtype, seed=0):
    d, hidden, out, batch, opt, loss, norm, n = cfg
    r = np.random.default_rng(seed)
    X = r.standard_normal((n, d)).astype(dtype)
    if loss == "squared":
        y = r.standard_normal(n).astype(dtype)
    else:
        y = r.integers(0, out, n)
    return X, y


# --------------------------------------------------------------------- jitmlp
class JitMLP:
    name = "jitmlp"

    def __init__(self, cfg, dtype, X, y):
        import jitmlp as jm
        d, hidden, out, batch, opt, loss, norm, n = cfg
        self.model = jm.MLP([d] + hidden + [out], loss=loss, norm=norm,
                            dtype=dtype, seed=0)
        o = {"sgd": jm.SGD(lr=LR), "momentum": jm.SGD(lr=LR, momentum=0.9),
             "adam": jm.Adam(lr=1e-3)}[opt]
        self.trainer = jm.Trainer(self.model, o, batch_size=batch, epochs=1,
                                  seed=0, track_grad_norms=False)
        self.X, self.y = X, y

    def epoch(self):
        self.trainer.fit(self.X, self.y)


# --------------------------------------------------------------------- torch
class Torch:
    name = "torch"

    def __init__(self, cfg, dtype, X, y):
        import torch
        torch.set_num_threads(os.cpu_count())
        self.torch = torch
        d, hidden, out, batch, opt, loss, norm, n = cfg
        tdt = getattr(torch, dtype)
        torch.manual_seed(0)
        layers = []
        widths = [d] + hidden
        for a, b in zip(widths[:-1], widths[1:]):
            layers.append(torch.nn.Linear(a, b, bias=norm is None))
            if norm == "batch":
                layers.append(torch.nn.BatchNorm1d(b))
            layers.append(torch.nn.ReLU())
        layers.append(torch.nn.Linear(widths[-1], out))
        self.net = torch.nn.Sequential(*layers).to(tdt)
        params = self.net.parameters()
        self.opt = {"sgd": lambda: torch.optim.SGD(params, lr=LR),
                    "momentum": lambda: torch.optim.SGD(params, lr=LR,
                                                        momentum=0.9),
                    "adam": lambda: torch.optim.Adam(params, lr=1e-3)}[opt]()
        self.X = torch.from_numpy(X)
        if loss == "squared":
            self.y = torch.from_numpy(y).reshape(-1, 1)
            self.loss = lambda h, t: 0.5 * ((h - t) ** 2).sum(1).mean()
        else:
            self.y = torch.from_numpy(y)
            self.loss = torch.nn.functional.cross_entropy
        self.batch = batch
        self.gen = torch.Generator().manual_seed(0)

    def epoch(self):
        torch = self.torch
        n = self.X.shape[0]
        perm = torch.randperm(n, generator=self.gen)
        self.net.train()
        for s in range(0, n, self.batch):
            idx = perm[s:s + self.batch]
            self.opt.zero_grad(set_to_none=True)
            loss = self.loss(self.net(self.X[idx]), self.y[idx])
            loss.backward()
            self.opt.step()


# ----------------------------------------------------------------------- jax
class Jax:
    name = "jax"

    def __init__(self, cfg, dtype, X, y):
        if dtype == "float64":
            os.environ.setdefault("JAX_ENABLE_X64", "1")
        import jax
        import jax.numpy as jnp
        import optax
        if dtype == "float64":
            jax.config.update("jax_enable_x64", True)
        d, hidden, out, batch, opt, loss, norm, n = cfg
        jdt = jnp.dtype(dtype)
        widths = [d] + hidden + [out]
        key = jax.random.PRNGKey(0)
        params = []
        for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
            key, k = jax.random.split(key)
            p = {"W": (jax.random.normal(k, (a, b)) * np.sqrt(2 / a)).astype(jdt)}
            hidden_layer = i < len(widths) - 2
            if norm == "batch" and hidden_layer:
                p["g"] = jnp.ones(b, jdt)
                p["be"] = jnp.zeros(b, jdt)
            else:
                p["b"] = jnp.zeros(b, jdt)
            params.append(p)
        tx = {"sgd": optax.sgd(LR), "momentum": optax.sgd(LR, momentum=0.9),
              "adam": optax.adam(1e-3)}[opt]
        is_bn = norm == "batch"
        squared = loss == "squared"

        def forward(params, x):
            for p in params[:-1]:
                z = x @ p["W"]
                if is_bn:
                    mu = z.mean(0)
                    var = z.var(0)
                    z = p["g"] * (z - mu) / jnp.sqrt(var + 1e-5) + p["be"]
                else:
                    z = z + p["b"]
                x = jax.nn.relu(z)
            return x @ params[-1]["W"] + params[-1]["b"]

        def loss_fn(params, x, t):
            h = forward(params, x)
            if squared:
                return 0.5 * jnp.mean(jnp.sum((h - t[:, None]) ** 2, 1))
            return jnp.mean(jax.nn.logsumexp(h, 1)
                            - jnp.take_along_axis(h, t[:, None], 1)[:, 0])

        @jax.jit
        def step(params, state, x, t):
            g = jax.grad(loss_fn)(params, x, t)
            updates, state = tx.update(g, state, params)
            return optax.apply_updates(params, updates), state

        self.jax = jax
        self.step = step
        self.params = params
        self.state = tx.init(params)
        self.X = jnp.asarray(X)
        self.y = jnp.asarray(y)
        self.batch = batch
        self.rng = np.random.default_rng(0)
        self.Xn, self.yn = X, y

    def epoch(self):
        n = self.Xn.shape[0]
        perm = self.rng.permutation(n)
        steps = n // self.batch  # full batches only: one compiled shape
        params, state = self.params, self.state
        for s in range(steps):
            idx = perm[s * self.batch:(s + 1) * self.batch]
            params, state = self.step(params, state, self.Xn[idx], self.yn[idx])
        self.jax.block_until_ready(params)
        self.params, self.state = params, state


# ------------------------------------------------------------------- sklearn
class Sklearn:
    name = "sklearn"

    def __init__(self, cfg, dtype, X, y):
        from sklearn.neural_network import MLPClassifier, MLPRegressor
        d, hidden, out, batch, opt, loss, norm, n = cfg
        if norm is not None:
            raise NotImplementedError("no BatchNorm in scikit-learn")
        kw = dict(hidden_layer_sizes=tuple(hidden), activation="relu",
                  batch_size=batch, alpha=0.0, random_state=0, shuffle=True)
        if opt == "adam":
            kw.update(solver="adam", learning_rate_init=1e-3)
        else:
            kw.update(solver="sgd", learning_rate_init=LR,
                      momentum=0.9 if opt == "momentum" else 0.0,
                      nesterovs_momentum=False)
        self.est = (MLPRegressor if loss == "squared" else MLPClassifier)(**kw)
        self.classes = np.arange(out) if loss != "squared" else None
        self.X, self.y = X, y

    def epoch(self):
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if self.classes is not None:
                self.est.partial_fit(self.X, self.y, classes=self.classes)
            else:
                self.est.partial_fit(self.X, self.y)


# --------------------------------------------------------------------- floor
class Floor:
    """The step's matrix products alone (forward x@W; backward x.T@delta and
    delta@W.T) through numpy's BLAS on preallocated arrays, once per batch."""
    name = "floor"

    def __init__(self, cfg, dtype, X, y):
        d, hidden, out, batch, opt, loss, norm, n = cfg
        r = np.random.default_rng(0)
        w = [d] + hidden + [out]
        self.W = [r.standard_normal((a, b)).astype(dtype)
                  for a, b in zip(w[:-1], w[1:])]
        self.x = [r.standard_normal((batch, a)).astype(dtype) for a in w]
        self.dW = [np.empty_like(W) for W in self.W]
        self.dx = [np.empty((batch, a), dtype) for a in w]
        self.steps = -(-n // batch)

    def epoch(self):
        W, x, dW, dx = self.W, self.x, self.dW, self.dx
        L = len(W)
        for _ in range(self.steps):
            for l in range(L):
                np.dot(x[l], W[l], out=x[l + 1])
            for l in range(L - 1, -1, -1):
                np.dot(x[l].T, x[l + 1], out=dW[l])
                if l > 0:
                    np.dot(x[l + 1], W[l].T, out=dx[l])


RUNNERS = {"jitmlp": JitMLP, "torch": Torch, "jax": Jax, "sklearn": Sklearn,
           "floor": Floor}


def measure(configs, dtypes, peers, rounds):
    rows = []
    for name in configs:
        cfg = CONFIGS[name]
        for dtype in dtypes:
            X, y = make_data(cfg, dtype)
            n = X.shape[0]
            runners = {}
            for key in ["jitmlp"] + peers + ["floor"]:
                try:
                    runners[key] = RUNNERS[key](cfg, dtype, X, y)
                    runners[key].epoch()  # warm-up: compile, caches, threads
                except (ImportError, NotImplementedError) as exc:
                    runners[key] = None
                    print(f"# {name}/{dtype}: {key} skipped ({exc})",
                          file=sys.stderr)
            times = {k: [] for k, r in runners.items() if r is not None}
            for _ in range(rounds):  # interleaved: every runner each round
                for k in times:
                    # let the previous runner's spinning threads (OpenMP,
                    # OpenBLAS, XLA) go idle before the next one is timed
                    time.sleep(0.3)
                    t0 = time.perf_counter()
                    runners[k].epoch()
                    times[k].append(time.perf_counter() - t0)
            sps = {k: n / statistics.median(v) for k, v in times.items()}
            rows.append((name, dtype, sps))
            print(format_row(name, dtype, sps, peers), flush=True)
    return rows


class JitMLP1(JitMLP):
    """jitmlp on one thread (its own single-thread quiet speed)."""
    name = "jitmlp-1"

    def epoch(self):
        import jitmlp as jm
        prev = jm.set_num_threads(1)
        try:
            super().epoch()
        finally:
            jm.set_num_threads(prev)


def _busy(seconds):
    """One CPU-bound process that ends by itself after ``seconds``."""
    import subprocess
    code = ("import time\nend = time.time() + %r\n"
            "while time.time() < end:\n    pass\n" % float(seconds))
    return subprocess.Popen([sys.executable, "-c", code])


def _timed(runners, rounds, warmup):
    """Median samples/s of each runner, rounds interleaved, after
    ``warmup`` untimed epochs each (the thread governor settles there)."""
    for _ in range(warmup):
        for r in runners.values():
            r.epoch()
    times = {k: [] for k in runners}
    for _ in range(rounds):
        for k, r in runners.items():
            time.sleep(0.3)
            t0 = time.perf_counter()
            r.epoch()
            times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def measure_contention(configs, dtypes, peers, rounds, busy_seconds):
    """Quiet and loaded samples/s of jitmlp (default threads and one
    thread) and of the peers, one busy process for the loaded half."""
    keys = ["jitmlp", "jitmlp-1"] + [p for p in peers if p != "sklearn"]
    print("# samples/s quiet -> with one busy process; 'keeps' = loaded / "
          "quiet; jitmlp's is loaded / its own 1-thread quiet speed; "
          "'1-thr keeps': jitmlp forced to one thread, loaded / quiet (what "
          "the neighbour takes from a run without threads)")
    # header and cells share these widths, so the columns line up
    W = [("config", 8), ("dtype", 7), ("jitmlp quiet", 12), ("1-thread", 10),
         ("loaded", 10), ("keeps", 6), ("1-thr keeps", 11)]
    for p in keys[2:]:
        W += [(f"{p} quiet", max(10, len(p) + 6)),
              (f"{p} loaded", max(10, len(p) + 7)), ("keeps", 6),
              ("jitmlp/" + p, len(p) + 7)]
    cols = [f"{h:<{w}s}" if i < 2 else f"{h:>{w}s}"
            for i, (h, w) in enumerate(W)]
    print(" | ".join(cols))
    rows = []
    for name in configs:
        cfg = CONFIGS[name]
        for dtype in dtypes:
            X, y = make_data(cfg, dtype)
            n = X.shape[0]
            runners = {}
            for key in keys:
                cls = JitMLP1 if key == "jitmlp-1" else RUNNERS[key]
                try:
                    runners[key] = cls(cfg, dtype, X, y)
                    runners[key].epoch()
                except (ImportError, NotImplementedError) as exc:
                    print(f"# {name}/{dtype}: {key} skipped ({exc})",
                          file=sys.stderr)
                    runners.pop(key, None)
            quiet = _timed(runners, rounds, 1)
            busy = _busy(busy_seconds)
            try:
                time.sleep(0.5)
                loaded = _timed(runners, rounds, 3)
            finally:
                busy.kill()
                busy.wait()
            q = {k: n / v for k, v in quiet.items()}
            ld = {k: n / v for k, v in loaded.items()}
            vals = [name, dtype, f"{q['jitmlp']:,.0f}",
                    f"{q['jitmlp-1']:,.0f}", f"{ld['jitmlp']:,.0f}",
                    f"{ld['jitmlp'] / q['jitmlp-1']:.0%}",
                    f"{ld['jitmlp-1'] / q['jitmlp-1']:.0%}"]
            for p in keys[2:]:
                if p in q:
                    vals += [f"{q[p]:,.0f}", f"{ld[p]:,.0f}",
                             f"{ld[p] / q[p]:.0%}",
                             f"{ld['jitmlp'] / ld[p]:.2f}x"]
                else:
                    vals += ["n/a"] * 4
            cells = [f"{v:<{w}s}" if i < 2 else f"{v:>{w}s}"
                     for i, (v, (_, w)) in enumerate(zip(vals, W))]
            print(" | ".join(cells), flush=True)
            rows.append((name, dtype, q, ld))
    return rows


def format_row(name, dtype, sps, peers):
    j = sps["jitmlp"]
    cells = [f"{name:8s}", f"{dtype:7s}", f"{j:12,.0f}"]
    for k in peers:
        cells.append(f"{sps[k]:11,.0f} {j / sps[k]:7.2f}x" if k in sps
                     else f"{'n/a':>20s}")
    cells.append(f"{sps['floor']:12,.0f} {j / sps['floor']:6.0%}")
    return " | ".join(cells)


def header(peers):
    cols = ["config  ", "dtype  ", "jitmlp s/s  "]
    cols += [f"{p + ' s/s':>11s} {'ratio':>8s}" for p in peers]
    cols += ["floor s/s    of floor"]
    return " | ".join(cols)


def _memory_child(key, name, dtype):
    """In a fresh process (framework imported, data made): the growth of the
    peak RSS while building the model and training 2 epochs, in MiB."""
    import resource
    cfg = CONFIGS[name]
    X, y = make_data(cfg, dtype)
    base = _rss_mib()
    runner = RUNNERS[key](cfg, dtype, X, y)
    runner.epoch()
    runner.epoch()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return peak - base


def _rss_mib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def measure_memory(configs, dtypes, peers):
    """Peak memory of training (model, optimizer state, workspaces, the
    framework's own buffers) above the process with the data loaded and the
    framework imported, each framework in its own fresh process."""
    import subprocess
    keys = ["jitmlp"] + [p for p in peers if p != "sklearn"]
    print("# peak RSS growth while building and training 2 epochs (MiB)")
    print(" | ".join(["config  ", "dtype  "] + [f"{k:>8s}" for k in keys]))
    for name in configs:
        for dtype in dtypes:
            cells = [f"{name:8s}", f"{dtype:7s}"]
            for key in keys:
                code = (f"import sys; sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r});"
                        f"import compare as c; c._import_only({key!r});"
                        f"print(c._memory_child({key!r}, {name!r}, {dtype!r}))")
                out = subprocess.run([sys.executable, "-c", code],
                                     capture_output=True, text=True)
                try:
                    cells.append(f"{float(out.stdout.split()[-1]):8.1f}")
                except (ValueError, IndexError):
                    cells.append(f"{'n/a':>8s}")
            print(" | ".join(cells), flush=True)


def _import_only(key):
    """Import the framework (and compile nothing) before the baseline."""
    if key == "jitmlp":
        import jitmlp  # noqa: F401
    elif key == "torch":
        import torch  # noqa: F401
    elif key == "jax":
        import jax  # noqa: F401
        import optax  # noqa: F401


def main(argv=None):
    p = argparse.ArgumentParser(
        description=" ".join(__doc__.split("\n\n")[0].split()))
    p.add_argument("--memory", action="store_true",
                   help="peak-memory table instead of speed (one process "
                        "per framework and configuration)")
    p.add_argument("--configs", nargs="+", default=list(CONFIGS),
                   choices=list(CONFIGS), help="default: all")
    p.add_argument("--dtypes", nargs="+", default=["float32", "float64"],
                   choices=["float32", "float64"],
                   help="default: both (--contention: float32)")
    p.add_argument("--peers", nargs="*", default=["torch", "jax", "sklearn"],
                   choices=["torch", "jax", "sklearn"],
                   help="default: all three; a bare --peers: jitmlp only")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--contention", action="store_true",
                   help="quiet against one busy process beside the "
                        "benchmark: what each framework keeps")
    p.add_argument("--busy-seconds", type=float, default=600.0,
                   help="the busy process of --contention ends by itself "
                        "after this long (default 600)")
    args = p.parse_args(argv)
    import numba
    print(f"# {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, Python {platform.python_version()}, "
          f"numpy {np.__version__}, numba {numba.__version__}")
    if args.memory:
        measure_memory(args.configs, args.dtypes, args.peers)
        return
    if args.contention:
        dtypes = args.dtypes if "--dtypes" in (argv or sys.argv) \
            else ["float32"]
        measure_contention(args.configs, dtypes, args.peers, args.rounds,
                           args.busy_seconds)
        return
    print(header(args.peers))
    measure(args.configs, args.dtypes, args.peers, args.rounds)


if __name__ == "__main__":
    main()
