"""Optimizers and schedules against plain-numpy transcriptions of API.md."""
import numpy as np
import pytest

import jitmlp as jm
from jitmlp import schedules as S


def numpy_optimizer(kind, hp):
    """The update formulas of API.md, literally, over a flat vector."""
    state = {"t": 0, "m": None, "v": None, "vmax": None, "buf": None,
             "ga": None}

    def step(p, g, mask, lr):
        state["t"] += 1
        t = state["t"]
        wd = hp.get("weight_decay", 0.0) * mask
        if state["m"] is None:
            for k in ("m", "v", "vmax", "buf", "ga"):
                state[k] = np.zeros_like(p)
        if kind == "rmsprop":
            g = g + wd * p
            a = hp["alpha"]
            state["v"] = a * state["v"] + (1 - a) * g * g
            if hp["centered"]:
                state["ga"] = a * state["ga"] + (1 - a) * g
                avg = np.sqrt(state["v"] - state["ga"] ** 2) + hp["eps"]
            else:
                avg = np.sqrt(state["v"]) + hp["eps"]
            if hp["momentum"] > 0:
                state["buf"] = hp["momentum"] * state["buf"] + g / avg
                return p - lr * state["buf"]
            return p - lr * g / avg
        if kind == "adagrad":
            g = g + wd * p
            clr = lr / (1 + (t - 1) * hp["lr_decay"])
            state["v"] = state["v"] + g * g
            return p - clr * g / (np.sqrt(state["v"]) + hp["eps"])
        if kind == "sgd":
            g = g + wd * p
            mu = hp.get("momentum", 0.0)
            if mu:
                state["v"] = mu * state["v"] + g if t > 1 else g.copy()
                g = g + mu * state["v"] if hp.get("nesterov") else state["v"]
            return p - lr * g
        if kind == "adamw":
            p = p * (1 - lr * wd)
        else:
            g = g + wd * p
        b1, b2 = hp.get("betas", (0.9, 0.999))
        eps = hp.get("eps", 1e-8)
        state["m"] = b1 * state["m"] + (1 - b1) * g
        state["v"] = b2 * state["v"] + (1 - b2) * g * g
        v = state["v"]
        if hp.get("amsgrad"):
            state["vmax"] = np.maximum(state["vmax"], state["v"])
            v = state["vmax"]
        return p - lr * (state["m"] / (1 - b1 ** t)) / (
            np.sqrt(v / (1 - b2 ** t)) + eps)

    return step


CASES = [
    ("sgd", jm.SGD, dict(lr=0.05)),
    ("sgd", jm.SGD, dict(lr=0.05, weight_decay=0.1)),
    ("sgd", jm.SGD, dict(lr=0.02, momentum=0.9)),
    ("sgd", jm.SGD, dict(lr=0.02, momentum=0.9, nesterov=True,
                         weight_decay=0.05)),
    ("adam", jm.Adam, dict(lr=0.01)),
    ("adam", jm.Adam, dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6,
                           weight_decay=0.1)),
    ("adamw", jm.AdamW, dict(lr=0.01)),
    ("adamw", jm.AdamW, dict(lr=0.01, weight_decay=0.3)),
    ("adam", jm.Adam, dict(lr=0.01, amsgrad=True, weight_decay=0.1)),
    ("adamw", jm.AdamW, dict(lr=0.01, amsgrad=True)),
    ("rmsprop", jm.RMSprop, dict(lr=0.005)),
    ("rmsprop", jm.RMSprop, dict(lr=0.005, momentum=0.8, weight_decay=0.1)),
    ("rmsprop", jm.RMSprop, dict(lr=0.002, alpha=0.9, centered=True,
                                 momentum=0.5)),
    ("adagrad", jm.Adagrad, dict(lr=0.05)),
    ("adagrad", jm.Adagrad, dict(lr=0.05, lr_decay=0.01, weight_decay=0.1)),
]


def test_every_optimizer_has_a_trajectory_case():
    # a new optimizer is not done until its formula is transcribed here
    assert {cls for _, cls, _ in CASES} == set(jm.optim.OPTIMIZERS.values())


@pytest.mark.parametrize("kind,cls,hp", CASES)
def test_trajectory_matches_numpy_formula(kind, cls, hp):
    r = np.random.default_rng(0)
    m = jm.MLP([4, 6, 6, 2], norm="layer", activation="tanh", seed=0)
    batches = [(r.standard_normal((8, 4)), r.standard_normal((8, 2)))
               for _ in range(5)]
    mask = np.zeros_like(m.params)
    for name, v in m.param_views(mask).items():
        if name.endswith(".W"):
            v[...] = 1.0
    probe = m.copy()
    p = m.params.copy()
    opt = cls(**hp)
    step = numpy_optimizer(kind, opt.get_config())  # defaults included
    sched = S.Exponential(0.98)
    tr = jm.Trainer(m, opt, schedule=sched, seed=0)
    p0 = p.copy()
    for k in range(50):
        Xb, yb = batches[k % 5]
        probe.params[...] = p
        loss_ref, g = probe.loss_and_grad(Xb, yb)
        p = step(p, g, mask, sched(k, hp["lr"]))
        assert tr.step(Xb, yb) == pytest.approx(loss_ref, rel=1e-12)
        np.testing.assert_allclose(m.params, p, rtol=1e-12, atol=1e-15)
    assert tr.optimizer.t == 50
    # biases, gamma and beta follow the same path with and without decay
    if opt.weight_decay:
        views = m.param_views(m.params - p0)
        nodecay = cls(**dict(hp, weight_decay=0.0))
        m2 = jm.MLP([4, 6, 6, 2], norm="layer", activation="tanh", seed=0)
        tr2 = jm.Trainer(m2, nodecay, schedule=S.Exponential(0.98), seed=0)
        tr2.step(*batches[0])
        m3 = jm.MLP([4, 6, 6, 2], norm="layer", activation="tanh", seed=0)
        tr3 = jm.Trainer(m3, cls(**hp), schedule=S.Exponential(0.98), seed=0)
        tr3.step(*batches[0])
        v2, v3 = m2.state_dict(), m3.state_dict()
        for name in v2:
            same = np.array_equal(v2[name], v3[name])
            assert same == (not name.endswith(".W")), name
        assert views["hidden.0.W"].any()


def test_optimizer_step_method_equals_trainer_step():
    r = np.random.default_rng(1)
    X, y = r.standard_normal((10, 3)), r.standard_normal(10)
    a = jm.MLP([3, 5, 1], seed=0)
    b = a.copy()
    opt_a = jm.Adam(lr=0.01)
    for _ in range(3):
        _, g = a.loss_and_grad(X, y)
        opt_a.step(a, g)
    tr = jm.Trainer(b, jm.Adam(lr=0.01))
    for _ in range(3):
        tr.step(X, y)
    np.testing.assert_array_equal(a.params, b.params)


def test_bad_hyper_parameters():
    bad = [
        (lambda: jm.SGD(lr=0), "lr"),
        (lambda: jm.SGD(lr=-1), "lr"),
        (lambda: jm.SGD(momentum=1.0), "momentum"),
        (lambda: jm.SGD(momentum=-0.1), "momentum"),
        (lambda: jm.SGD(nesterov=True), "nesterov"),
        (lambda: jm.SGD(weight_decay=-1e-3), "weight_decay"),
        (lambda: jm.Adam(betas=(1.0, 0.9)), r"betas\[0\]"),
        (lambda: jm.Adam(betas=(0.9, -0.1)), r"betas\[1\]"),
        (lambda: jm.Adam(betas=0.9), "betas"),
        (lambda: jm.Adam(eps=0), "eps"),
        (lambda: jm.AdamW(weight_decay=-1), "weight_decay"),
        (lambda: S.StepDecay(0), "step_size"),
        (lambda: S.Exponential(0), "gamma"),
        (lambda: S.Cosine(T=0), "T"),
        (lambda: S.LinearWarmup(0), "warmup"),
        (lambda: S.ReduceOnPlateau(factor=1.5), "factor"),
    ]
    for make, msg in bad:
        with pytest.raises(ValueError, match=msg):
            make()
    with pytest.raises(TypeError):
        S.StepDecay(10, gamma=0.5, foo=1)
    with pytest.raises(TypeError, match="after"):
        S.LinearWarmup(5, after="cosine")


def test_schedules_closed_forms():
    t = np.arange(100)
    lr = 0.3
    np.testing.assert_allclose(S.Constant().values(t, lr), np.full(100, lr))
    np.testing.assert_allclose(S.StepDecay(30, 0.5).values(t, lr),
                               lr * 0.5 ** (t // 30))
    np.testing.assert_allclose(S.Exponential(0.97).values(t, lr),
                               lr * 0.97 ** t)
    np.testing.assert_allclose(S.InverseScaling(0.25).values(t, lr),
                               lr / (t + 1) ** 0.25)
    cos = S.Cosine(T=40, eta_min=0.01).values(t, lr)
    np.testing.assert_allclose(cos, 0.01 + (lr - 0.01) * 0.5 * (
        1 + np.cos(np.pi * np.minimum(t, 40) / 40)))
    assert cos[0] == lr and cos[40] == pytest.approx(0.01) and cos[99] == pytest.approx(0.01)
    rest = S.Cosine(T=10, restarts=True).values(t, lr)
    np.testing.assert_allclose(rest, lr * 0.5 * (1 + np.cos(np.pi * (t % 10) / 10)))
    rest2 = S.Cosine(T=10, restarts=True, t_mult=2).values(t, lr)
    # periods [0,10), [10,30), [30,70), [70,150)
    start = np.select([t < 10, t < 30, t < 70], [0, 10, 30], 70)
    length = np.select([t < 10, t < 30, t < 70], [10, 20, 40], 80)
    np.testing.assert_allclose(rest2, lr * 0.5 * (1 + np.cos(np.pi * (t - start) / length)))
    warm = S.LinearWarmup(10, after=S.Exponential(0.9)).values(t, lr)
    np.testing.assert_allclose(warm, np.where(t < 10, lr * (t + 1) / 10,
                                              lr * 0.9 ** np.maximum(t - 10, 0)))
    assert S.Exponential(0.5)(3, 1.0) == 0.125


def test_reduce_on_plateau_divides_by_five():
    s = S.ReduceOnPlateau(patience=2, tol=1e-3)
    lrs = []
    for e, loss in enumerate([1.0, 0.9, 0.8999, 0.8998, 0.5, 0.5, 0.5]):
        lrs.append(s(0, 1.0))
        s.observe(e, loss)
    lrs.append(s(0, 1.0))
    assert lrs == pytest.approx([1, 1, 1, 1, 0.2, 0.2, 0.2, 0.04])


TORCH_OPT = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW",
             "rmsprop": "RMSprop", "adagrad": "Adagrad"}


@pytest.mark.parametrize("kind,cls,hp", CASES)
def test_trajectory_matches_torch_optim(kind, cls, hp):
    """30 steps against torch.optim on the same gradients (float64); weight
    decay as a parameter group of the W entries only."""
    torch = pytest.importorskip("torch")
    r = np.random.default_rng(3)
    m = jm.MLP([4, 6, 6, 2], norm="layer", activation="tanh", seed=0)
    batches = [(r.standard_normal((8, 4)), r.standard_normal((8, 2)))
               for _ in range(5)]
    mask = np.zeros(m.n_params, bool)
    for name, v in m.param_views(mask).items():
        v[...] = name.endswith(".W")
    opt = cls(**hp)
    cfg = dict(opt.get_config())
    wd = cfg.pop("weight_decay")
    if kind == "sgd" and not cfg["momentum"]:
        cfg.pop("nesterov")
    tw = torch.tensor(m.params[mask], dtype=torch.float64, requires_grad=True)
    tb = torch.tensor(m.params[~mask], dtype=torch.float64, requires_grad=True)
    topt = getattr(torch.optim, TORCH_OPT[kind])(
        [{"params": [tw], "weight_decay": wd},
         {"params": [tb], "weight_decay": 0.0}], **cfg)
    probe = m.copy()
    tr = jm.Trainer(m, opt, seed=0)
    for k in range(30):
        Xb, yb = batches[k % 5]
        probe.params[mask] = tw.detach().numpy()
        probe.params[~mask] = tb.detach().numpy()
        _, g = probe.loss_and_grad(Xb, yb)
        tw.grad = torch.tensor(g[mask])
        tb.grad = torch.tensor(g[~mask])
        topt.step()
        tr.step(Xb, yb)
        np.testing.assert_allclose(m.params[mask], tw.detach().numpy(),
                                   rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(m.params[~mask], tb.detach().numpy(),
                                   rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("name", list(jm.optim.OPTIMIZERS))
def test_state_buffers_have_distinct_slots(name):
    cls = jm.optim.OPTIMIZERS[name]
    variants = [cls()] + {"sgd": [jm.SGD(momentum=0.9)],
                          "adam": [jm.Adam(amsgrad=True)],
                          "adamw": [jm.AdamW(amsgrad=True)],
                          "rmsprop": [jm.RMSprop(momentum=0.9, centered=True)],
                          }.get(name, [])
    for opt in variants:
        slots = [jm.Optimizer._SLOTS[b] for b in opt._buffers()]
        assert len(set(slots)) == len(slots), opt
