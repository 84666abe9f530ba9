"""PyTorch interoperability (jitmlp._torch): from_torch / to_torch round trips."""
import numpy as np
import pytest

import jitmlp as jm
from jitmlp import _validation as V

torch = pytest.importorskip("torch")
nn = torch.nn
from jitmlp import _torch  # noqa: E402

ACTS = list(V.ACTIVATIONS)   # every registry entry must export
RTOL = {"float32": 1e-5, "float64": 1e-10}
TDT = {"float32": torch.float32, "float64": torch.float64}


def _moved(model, seed=0):
    """A few training steps (BatchNorm running statistics move), then random
    gamma and beta."""
    rng = np.random.default_rng(seed)
    X = rng.normal(1.0, 1.5, (64, model.sizes[0]))
    Y = rng.normal(size=(64, model.sizes[-1]))
    tr = jm.Trainer(model, jm.SGD(lr=0.01), batch_size=16, seed=0)
    for i in range(4):
        tr.step(X[16 * i:16 * i + 16], Y[16 * i:16 * i + 16])
    for k, v in model.state_dict().items():
        if k.endswith((".gamma", ".beta")):
            v[...] = rng.uniform(0.5, 1.5, v.shape)
    return model.eval()


def _close(a, b, dtype):
    a, b = np.asarray(a), np.asarray(b)
    np.testing.assert_allclose(a, b, rtol=RTOL[dtype],
                               atol=RTOL[dtype] * np.abs(b).max())  # near-zero outputs


def _torch_out(module, X, dtype):
    with torch.no_grad():
        return module(torch.as_tensor(X, dtype=TDT[dtype])).numpy()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("residual", [False, True])
@pytest.mark.parametrize("norm", [None, "batch", "layer"])
@pytest.mark.parametrize("act", ACTS)
def test_to_torch_and_back(act, norm, residual, dtype):
    model = _moved(jm.MLP([5, 8, 8, 3], activation=act, norm=norm,
                          residual=residual, dtype=dtype, seed=1))
    X = np.random.default_rng(2).normal(1.0, 1.5, (33, 5)).astype(dtype)
    h = model.forward(X)
    module = model.to_torch()
    assert not module.training
    assert isinstance(module, _torch.ResidualMLP if residual
                      else nn.Sequential)
    assert next(module.parameters()).dtype == TDT[dtype]
    _close(_torch_out(module, X, dtype), h, dtype)
    back = jm.MLP.from_torch(module)
    assert back.get_config()["sizes"] == list(model.sizes)
    assert (back.activation, back.norm, back.residual, back.dtype.name) == \
        (act, norm, residual, dtype)
    assert back.norm_eps == model.norm_eps
    assert back.bn_momentum == model.bn_momentum
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(back.state_dict()[k], v, err_msg=k)
    np.testing.assert_array_equal(back.forward(X), h)


def _sequential(act_layer, norm, dtype, bias_before_bn=True):
    torch.manual_seed(0)
    layers = []
    widths = [4, 16, 16]
    for n_in, n_out in zip(widths[:-1], widths[1:]):
        layers.append(nn.Linear(n_in, n_out, bias=bias_before_bn or
                                norm != "batch"))
        if norm == "batch":
            layers.append(nn.BatchNorm1d(n_out, eps=1e-3, momentum=0.2))
        elif norm == "layer":
            layers.append(nn.LayerNorm(n_out, eps=1e-4))
        layers.append(act_layer())
    layers.append(nn.Linear(16, 2))
    return nn.Sequential(*layers).to(TDT[dtype])


TORCH_LAYERS = {"relu": nn.ReLU, "leaky_relu": lambda: nn.LeakyReLU(0.01),
                "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "gelu": nn.GELU,
                "elu": nn.ELU, "identity": nn.Identity, "silu": nn.SiLU,
                "softplus": nn.Softplus}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("norm", [None, "batch", "layer"])
@pytest.mark.parametrize("act", ACTS)
def test_from_torch_trained_module(act, norm, dtype):
    module = _sequential(TORCH_LAYERS[act], norm, dtype)
    g = torch.Generator().manual_seed(0)
    opt = torch.optim.SGD(module.parameters(), lr=0.05)
    for _ in range(5):  # moves the running statistics and the Linear biases
        xb = torch.randn(32, 4, generator=g, dtype=TDT[dtype]) * 2 + 1
        loss = module(xb).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    module.eval()
    model = jm.MLP.from_torch(module, dtype=None)
    assert model.dtype.name == dtype and not model.training
    if norm == "batch":
        assert model.norm_eps == 1e-3 and model.bn_momentum == 0.2
        assert "hidden.0.b" not in model.state_dict()
        # the Linear bias went into the running mean
        assert np.abs(module[0].bias.detach().numpy()).max() > 0
    X = np.random.default_rng(3).normal(1.0, 2.0, (40, 4)).astype(dtype)
    _close(model.forward(X), _torch_out(module, X, dtype), dtype)


def test_bias_fold_stays_exact_through_training():
    # BN(Wx + b) in training mode: b cancels in the batch statistics, and
    # the running mean moves by the same amount in both
    module = _sequential(nn.ReLU, "batch", "float64")
    with torch.no_grad():
        module[0].bias.uniform_(-2, 2)
        module[3].bias.uniform_(-2, 2)
    model = jm.MLP.from_torch(module.train())
    x = np.random.default_rng(4).normal(size=(16, 4))
    with torch.no_grad():
        module(torch.as_tensor(x))          # one training-mode pass: stats move
    jm.Trainer(model, jm.SGD(lr=1e-300), batch_size=16).step(x, np.zeros((16, 2)))
    module.eval()
    X = np.random.default_rng(5).normal(size=(20, 4))
    _close(model.eval().forward(X), _torch_out(module, X, "float64"),
           "float64")


def test_from_torch_dtype_and_loss():
    module = _sequential(nn.Tanh, None, "float64")
    m = jm.MLP.from_torch(module, loss="cross_entropy", dtype="float32")
    assert m.dtype == np.float32 and m.loss_name == "cross_entropy"
    assert m.training  # a torch module starts in training mode


@pytest.mark.parametrize("bad, match", [
    (lambda: nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2),
                           nn.Tanh(), nn.Linear(2, 1)), "same activation"),
    (lambda: nn.Sequential(nn.Linear(3, 4), nn.LeakyReLU(0.2),
                           nn.Linear(4, 1)), "slope 0.01"),
    (lambda: nn.Sequential(nn.Linear(3, 4), nn.GELU(approximate="tanh"),
                           nn.Linear(4, 1)), "erf form"),
    (lambda: nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.BatchNorm1d(4),
                           nn.Linear(4, 1)), "BatchNorm1d"),
    (lambda: nn.Sequential(nn.Linear(3, 4), nn.Dropout(0.5), nn.ReLU(),
                           nn.Linear(4, 1)), "Dropout"),   # before phi
    (lambda: nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.AlphaDropout(0.5),
                           nn.Linear(4, 1)), "AlphaDropout"),
    (lambda: nn.Sequential(nn.Linear(3, 4), nn.ReLU()), "output Linear"),
    (lambda: nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4, momentum=None),
                           nn.ReLU(), nn.Linear(4, 1)), "momentum=None"),
    (lambda: nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(5, 1)),
     "in_features 5"),
    (lambda: nn.Conv1d(1, 1, 3), "nn.Sequential"),
])
def test_from_torch_refuses_clearly(bad, match):
    with pytest.raises((ValueError, TypeError), match=match):
        jm.MLP.from_torch(bad())


def test_residual_module_is_picklable_and_scriptable(tmp_path):
    import io
    model = _moved(jm.MLP([4, 6, 6, 6, 2], residual=True, norm="layer",
                          seed=0))
    module = model.to_torch()
    buf = io.BytesIO()
    torch.save(module, buf)
    buf.seek(0)
    again = torch.load(buf, weights_only=False)
    X = np.random.default_rng(0).normal(size=(7, 4))
    _close(_torch_out(again, X, "float64"), model.forward(X), "float64")
    # first hidden layer 4 -> 6 is not residual, the next two are
    assert module.residual == [False, True, True]


def test_dropout_round_trips_as_nn_dropout():
    torch = pytest.importorskip("torch")
    m = jm.MLP([4, 6, 6, 2], dropout=[0.25, 0.0], residual=True, seed=0)
    net = m.to_torch()
    drops = [l for l in net.modules() if isinstance(l, torch.nn.Dropout)]
    assert [d.p for d in drops] == [0.25]
    back = jm.MLP.from_torch(net.eval())
    assert back.dropout == [0.25, 0.0]
    X = np.random.default_rng(0).standard_normal((5, 4))
    np.testing.assert_allclose(back.forward(X), m.eval().forward(X),
                               rtol=1e-12)
    with torch.no_grad():
        np.testing.assert_allclose(net(torch.tensor(X)).numpy(),
                                   m.forward(X), rtol=1e-12)
