"""model.update_bn: torch.optim.swa_utils.update_bn's cumulative average."""
import numpy as np
import pytest

import jitmlp as jm
import reference as ref


def trained(seed=0, dtype="float64"):
    r = np.random.default_rng(seed)
    X = 2 + 3 * r.standard_normal((300, 5))
    y = r.integers(0, 3, 300)
    m = jm.MLP([5, 16, 12, 3], norm="batch", loss="cross_entropy",
               dtype=dtype, seed=seed)
    jm.Trainer(m, jm.Adam(1e-2), batch_size=32, epochs=2, seed=0).fit(X, y)
    return m, X


def transcription(m, X, batch_size):
    """Cumulative averages of the batch means and unbiased variances, every
    layer seeing the training-mode outputs of the layers below."""
    sums = None
    k = 0
    for s in range(0, len(X), batch_size):
        _, cache = ref.forward(m, X[s:s + batch_size], training=True)
        B = len(X[s:s + batch_size])
        stats = [(c["mu"], c["var"] * B / (B - 1)) for c in cache[:-1]]
        k += 1
        sums = stats if sums is None else [
            (a + b, v + w) for (a, v), (b, w) in zip(sums, stats)]
    return [(a / k, v / k) for a, v in sums]


@pytest.mark.parametrize("batch_size", [64, 300, 1000])
def test_matches_the_transcription(batch_size):
    m, X = trained()
    p = m.params.copy()
    mode = m.training
    want = transcription(m, X, batch_size)
    assert m.update_bn(X, batch_size=batch_size) is m
    sd = m.state_dict()
    for l, (mu, var) in enumerate(want):
        np.testing.assert_allclose(sd[f"hidden.{l}.running_mean"], mu,
                                   rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(sd[f"hidden.{l}.running_var"], var,
                                   rtol=1e-10)
    assert np.array_equal(m.params, p) and m.training == mode


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_matches_torch_swa_utils_update_bn(dtype):
    torch = pytest.importorskip("torch")
    m, X = trained(dtype=dtype)
    net = m.to_torch()
    loader = torch.utils.data.DataLoader(
        torch.tensor(X.astype(dtype)), batch_size=64, shuffle=False)
    torch.optim.swa_utils.update_bn(loader, net)
    m.update_bn(X, batch_size=64)
    back = jm.MLP.from_torch(net.eval(), loss="cross_entropy")
    tol = 1e-10 if dtype == "float64" else 1e-4
    np.testing.assert_allclose(m.stats, back.stats, rtol=tol, atol=tol)


def test_closes_the_gap_to_batch_statistics_and_edge_cases():
    m, X = trained()
    m.stats[...] = np.abs(m.stats) * 5        # stale statistics
    m.eval()
    stale = np.abs(m.forward(X) - m.train().forward(X)).mean()
    m.update_bn(X, batch_size=len(X))
    fresh = np.abs(m.eval().forward(X) - m.train().forward(X)).mean()
    assert fresh < 1e-2 * stale
    s = m.stats.copy()
    with pytest.raises(ValueError, match="batch of 1"):
        m.update_bn(X[:257], batch_size=256)
    with pytest.raises(ValueError, match="features"):
        m.update_bn(X[:, :3])
    assert np.array_equal(m.stats, s)
    plain = jm.MLP([5, 4, 2], seed=0)
    p = plain.params.copy()
    plain.update_bn(X)                        # no BatchNorm: nothing to do
    assert np.array_equal(plain.params, p)
