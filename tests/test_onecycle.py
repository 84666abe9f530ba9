"""jm.schedules.OneCycle against PyTorch's OneCycleLR (cosine, two phases)."""
import math

import numpy as np
import pytest

import jitmlp as jm
from jitmlp import schedules as S

CASES = [dict(max_lr=0.1, total_steps=100),
         dict(max_lr=1.0, total_steps=37, pct_start=0.25, div_factor=10,
              final_div_factor=100),
         dict(max_lr=3e-3, total_steps=1000, pct_start=0.5),
         dict(max_lr=0.5, total_steps=7, pct_start=0.4)]


def transcription(max_lr, total_steps, pct_start=0.3, div_factor=25.0,
                  final_div_factor=1e4):
    """torch/optim/lr_scheduler.py::OneCycleLR.get_lr, line by line."""
    initial_lr = max_lr / div_factor
    min_lr = initial_lr / final_div_factor
    phases = [dict(end_step=float(pct_start * total_steps) - 1,
                   start_lr=initial_lr, end_lr=max_lr),
              dict(end_step=total_steps - 1, start_lr=max_lr, end_lr=min_lr)]

    def anneal_cos(start, end, pct):
        cos_out = math.cos(math.pi * pct) + 1
        return end + (start - end) / 2.0 * cos_out

    out = []
    for step_num in range(total_steps + 1):
        start_step = 0
        for i, phase in enumerate(phases):
            end_step = phase["end_step"]
            if step_num <= end_step or i == len(phases) - 1:
                pct = (step_num - start_step) / (end_step - start_step)
                lr = anneal_cos(phase["start_lr"], phase["end_lr"], pct)
                break
            start_step = phase["end_step"]
        out.append(lr)
    return np.array(out)


@pytest.mark.parametrize("kw", CASES)
def test_matches_the_transcription(kw):
    s = S.OneCycle(**kw)
    t = np.arange(kw["total_steps"] + 1)
    np.testing.assert_allclose(s.values(t, 123.0), transcription(**kw),
                               rtol=1e-14, atol=0)
    assert s(0, 1.0) == pytest.approx(kw["max_lr"] / kw.get("div_factor", 25))


@pytest.mark.parametrize("kw", CASES)
def test_matches_torch(kw):
    torch = pytest.importorskip("torch")
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=kw["max_lr"])
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, cycle_momentum=False,
                                                anneal_strategy="cos", **kw)
    want = []
    for _ in range(kw["total_steps"]):
        want.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    got = S.OneCycle(**kw).values(np.arange(kw["total_steps"]), 0.0)
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=0)


def test_in_a_trainer_and_errors():
    X = np.random.default_rng(0).standard_normal((40, 3))
    y = X.sum(1)
    sched = S.OneCycle(0.05, total_steps=20)
    t = jm.Trainer(jm.MLP([3, 8, 1], seed=0), jm.SGD(), batch_size=8,
                   epochs=4, schedule=sched, seed=0)
    h = t.fit(X, y)
    np.testing.assert_allclose(np.concatenate(h.lr_steps),
                               sched.values(np.arange(20), 0.0))
    with pytest.raises(ValueError, match="total_steps"):
        t.fit(X, y)            # steps 20..24: beyond the cycle
    with pytest.raises(ValueError, match="pct_start"):
        S.OneCycle(0.1, 10, pct_start=1.5)
    with pytest.raises(ValueError, match="phase"):
        S.OneCycle(0.1, 3, pct_start=0.1)
    with pytest.raises(ValueError, match="max_lr"):
        S.OneCycle(0.0, 10)
