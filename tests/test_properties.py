"""Property-based test of the public API (hypothesis).

Random architectures, dtypes, data with NaN/inf placed anywhere, labels of
any kind, batch sizes and norm/residual/loss combinations: every call either
returns finite, well-shaped output or raises ValueError, TypeError or
DivergenceError; a refused call (ValueError, TypeError) changes no buffer
(parameters, running statistics, optimizer state, step and epoch counts,
history, mode), and after a DivergenceError the parameters and statistics
are finite (for ``step``: exactly as before the call).
"""
import os
import warnings

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, event, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import jitmlp as jm  # noqa: E402
from state import same, snapshot  # noqa: E402

ALLOWED = (ValueError, TypeError, jm.DivergenceError)
OPS = ("fit", "step", "forward", "predict", "predict_proba", "loss",
       "loss_and_grad", "score")


@st.composite
def cases(draw):
    d = draw(st.integers(1, 4))
    hidden = draw(st.lists(st.integers(1, 6), max_size=2))
    loss = draw(st.sampled_from(list(jm.registry.LOSSES)))
    out = {"squared": draw(st.integers(1, 3)), "logistic": 1,
           "cross_entropy": draw(st.integers(2, 4)),
           "huber": draw(st.integers(1, 3)), "poisson": draw(st.integers(1, 3)),
           "binary_cross_entropy": draw(st.integers(1, 3))}[loss]
    kw = dict(loss=loss, norm=draw(st.sampled_from(list(jm.registry.NORMS))),
              residual=draw(st.booleans()),
              activation=draw(st.sampled_from(list(jm.registry.ACTIVATIONS))),
              dtype=draw(st.sampled_from(["float32", "float64"])), seed=0)
    n = draw(st.integers(1, 9))
    cols = draw(st.sampled_from([d, d, d, d + 1]))       # sometimes wrong
    scale = draw(st.sampled_from([1.0, 1.0, 1e3, 1e20, 1e200]))
    X = np.random.default_rng(n).standard_normal((n, cols)) * scale
    if draw(st.integers(0, 5)) == 0:                     # NaN/inf somewhere
        X[draw(st.integers(0, n - 1)), draw(st.integers(0, cols - 1))] = \
            draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    kind = draw(st.sampled_from(["good", "good", "good", "float", "bad",
                                 "short", "2d"]))
    r = np.random.default_rng(n + 1)
    if loss in ("squared", "huber"):
        y = r.standard_normal((n, out)) if out > 1 else r.standard_normal(n)
    elif loss == "poisson":
        y = r.poisson(1.0, (n, out)) if out > 1 else r.poisson(1.0, n)
    elif loss == "binary_cross_entropy":
        y = r.integers(0, 2, (n, out)) if out > 1 else r.integers(0, 2, n)
    elif loss == "logistic":
        y = r.choice([-1, 1], n)
    else:
        y = r.integers(0, out, n)
    if kind == "float":
        y = y + 0.5
    elif kind == "bad":
        y = y.astype(object)
        y[0] = "a"
    elif kind == "short":
        y = y[:-1]
    elif kind == "2d":
        y = np.stack([y, y], axis=-1)
    op = draw(st.sampled_from(OPS))
    batch = draw(st.integers(1, n + 2))
    opt = draw(st.sampled_from(["momentum"] + list(jm.optim.OPTIMIZERS)))
    lr = draw(st.sampled_from([1e-3, 1.0, 1e6]))
    return [d] + hidden + [out], kw, X, y, op, batch, opt, lr


@settings(max_examples=int(os.environ.get("JITMLP_HYPOTHESIS_EXAMPLES", 150)),
          deadline=None, derandomize=not os.environ.get("JITMLP_HYPOTHESIS_RANDOM"),
          database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_every_call_returns_finite_output_or_refuses_cleanly(case):
    sizes, kw, X, y, op, batch, opt_name, lr = case
    model = jm.MLP(sizes, **kw)
    opt = ({"momentum": lambda: jm.SGD(lr=lr, momentum=0.9)}.get(opt_name)
           or (lambda: jm.optim.OPTIMIZERS[opt_name](lr=lr)))()
    trainer = jm.Trainer(model, opt, batch_size=batch, epochs=2, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # batch_size > n is a warning
        try:                              # one step first: non-zero moments
            trainer.step(np.ones((2, sizes[0])), {
                "squared": np.zeros((2, sizes[-1])) if sizes[-1] > 1
                else np.zeros(2),
                "logistic": np.ones(2), "cross_entropy": np.zeros(2),
                "huber": np.zeros((2, sizes[-1])),
                "poisson": np.ones((2, sizes[-1])),
                "binary_cross_entropy": np.ones((2, sizes[-1]))}[
                    kw["loss"]])
        except jm.DivergenceError:
            pass
        before = snapshot(trainer)
        try:
            if op == "fit":
                out = trainer.fit(X, y)
            elif op == "step":
                out = trainer.step(X, y)
            else:
                out = getattr(model, op)(X, y) if op in (
                    "loss", "loss_and_grad", "score") else getattr(model, op)(X)
        except jm.DivergenceError as e:
            event(f"{op}: diverged")
            assert isinstance(e, ALLOWED)
            assert np.isfinite(model.params).all()
            assert np.isfinite(model.stats).all()
            if op == "step":
                # params, statistics and step count as before; the state
                # as before, or cleared when the update itself overflowed
                after = snapshot(trainer)
                assert same(after[:2] + after[3:], before[:2] + before[3:])
                assert same(after[2:3], before[2:3]) or not any(
                    a.any() for a in after[2].values())
            return
        except (ValueError, TypeError) as e:
            event(f"{op}: refused ({type(e).__name__})")
            after = snapshot(trainer)
            # a refused call changes nothing (the mode included)
            assert same(after, before), op
            return
    event(f"{op}: returned")
    n = X.shape[0]
    assert np.isfinite(model.params).all() and np.isfinite(model.stats).all()
    if op == "fit":
        assert all(np.isfinite(out.loss))
    elif op == "step" or op in ("loss", "score"):
        assert np.isfinite(out)
    elif op == "loss_and_grad":
        assert np.isfinite(out[0]) and out[1].shape == model.params.shape
        assert np.isfinite(out[1]).all()
    elif op == "forward":
        assert out.shape == (n, sizes[-1]) and np.isfinite(out).all()
        assert out.dtype == model.dtype
    elif op == "predict":
        assert out.shape[0] == n
        assert np.isfinite(np.asarray(out, float)).all()
    elif op == "predict_proba" and kw["loss"] == "binary_cross_entropy":
        assert out.shape == (n, sizes[-1]) and np.isfinite(out).all()
        assert ((out >= 0) & (out <= 1)).all()    # one probability per label
    elif op == "predict_proba":
        assert out.shape == (n, max(sizes[-1], 2)) and np.isfinite(out).all()
        np.testing.assert_allclose(out.sum(1), 1, rtol=1e-4)
