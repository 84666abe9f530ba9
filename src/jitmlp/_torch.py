"""PyTorch interoperability: :meth:`MLP.from_torch` and :meth:`MLP.to_torch`.

Imported only by those methods, so that torch stays optional (it is large:
install a CPU build, e.g. ``pip install torch --index-url
https://download.pytorch.org/whl/cpu``).

A jitmlp network ``[d, K1, ..., KL, out]`` is, in PyTorch terms::

    nn.Sequential(Linear(d, K1[, bias]), [BatchNorm1d(K1) | LayerNorm(K1)], phi,
                  ...,
                  Linear(KL, out))

with one activation ``phi`` and one kind of normalisation for every hidden
layer.  Differences handled here:

* ``nn.Linear.weight`` is (out, in); jitmlp's ``W`` is (in, out).
* jitmlp's BatchNorm layers have no bias; a torch Linear bias ``b`` before a
  BatchNorm1d is folded into the running mean (``running_mean - b``): exact
  in evaluation mode, and through further training (see
  :meth:`jitmlp.MLP.from_torch`).
* Dropout becomes ``nn.Dropout(p)`` after the activation (and back): the
  same rate and evaluation-mode identity; the masks are PyTorch's own.
* ``nn.Sequential`` cannot add a residual branch, so :func:`to_torch` of a
  residual model returns a :class:`ResidualMLP`, a small ``nn.Module`` with
  the same forward, which :func:`from_torch` reads back.
"""
import numpy as np

try:
    import torch
    from torch import nn
except ImportError as exc:  # pragma: no cover - exercised without torch
    raise ImportError(
        "MLP.from_torch / MLP.to_torch need PyTorch: install a CPU build, "
        "e.g. pip install torch --index-url "
        "https://download.pytorch.org/whl/cpu") from exc

_DTYPES = {torch.float32: "float32", torch.float64: "float64"}
_TORCH_DTYPES = {v: k for k, v in _DTYPES.items()}

# jitmlp activation name -> a torch layer with the same function
TORCH_ACTIVATIONS = {
    "identity": lambda: nn.Identity(),
    "relu": lambda: nn.ReLU(),
    "leaky_relu": lambda: nn.LeakyReLU(0.01),
    "tanh": lambda: nn.Tanh(),
    "sigmoid": lambda: nn.Sigmoid(),
    "gelu": lambda: nn.GELU(approximate="none"),
    "elu": lambda: nn.ELU(alpha=1.0),
    "silu": lambda: nn.SiLU(),
    # torch's softplus is linear above threshold=20: off by at most
    # log1p(exp(-20)) = 2.1e-9 from the exact log(1 + exp(a))
    "softplus": lambda: nn.Softplus(beta=1.0, threshold=20.0),
}


def _activation_name(layer):
    """The jitmlp name of a torch activation layer, or None if ``layer`` is
    not one; ValueError for a supported type with other constants."""
    simple = {nn.Identity: "identity", nn.ReLU: "relu", nn.Tanh: "tanh",
              nn.Sigmoid: "sigmoid", nn.SiLU: "silu"}
    if type(layer) in simple:
        return simple[type(layer)]
    if isinstance(layer, nn.LeakyReLU):
        if layer.negative_slope != 0.01:
            raise ValueError(f"{layer}: jitmlp's leaky_relu has slope 0.01; "
                             f"got negative_slope={layer.negative_slope}")
        return "leaky_relu"
    if isinstance(layer, nn.GELU):
        if layer.approximate != "none":
            raise ValueError(f"{layer}: jitmlp's gelu is the exact erf form "
                             f"(approximate='none'); got "
                             f"approximate={layer.approximate!r}")
        return "gelu"
    if isinstance(layer, nn.ELU):
        if layer.alpha != 1.0:
            raise ValueError(f"{layer}: jitmlp's elu has alpha 1; got "
                             f"alpha={layer.alpha}")
        return "elu"
    if isinstance(layer, nn.Softplus):
        if layer.beta != 1.0:
            raise ValueError(f"{layer}: jitmlp's softplus has beta 1; got "
                             f"beta={layer.beta}")
        return "softplus"
    return None


class ResidualMLP(nn.Module):
    """A jitmlp network with residual connections as a torch module.

    ``blocks[l]`` is the ``nn.Sequential(Linear, [norm], phi)`` of hidden
    layer ``l``; ``residual[l]`` says whether the layer adds its input
    (``x^(l) = x^(l-1) + phi(z^(l))``, for equal widths); ``out`` is the
    output Linear.
    """

    def __init__(self, blocks, residual, out):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.residual = [bool(r) for r in residual]
        self.out = out

    def forward(self, x):
        for block, res in zip(self.blocks, self.residual):
            y = block(x)
            x = y + x if res else y
        return self.out(x)


def _layers(module):
    """The leaf layers of a (possibly nested) nn.Sequential, in order."""
    out = []
    for child in module.children():
        if isinstance(child, nn.Sequential):
            out.extend(_layers(child))
        else:
            out.append(child)
    return out


def _np(t):
    return t.detach().cpu().numpy().astype(np.float64)


def from_torch(cls, module, *, loss="squared", dtype=None):
    """See :meth:`jitmlp.MLP.from_torch`."""
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be a torch.nn.Module; got "
                        f"{type(module).__name__}")
    if isinstance(module, ResidualMLP):
        blocks = [_layers(b) for b in module.blocks]
        out_layers = [module.out]
        residual_flags = list(module.residual)
        if len(residual_flags) != len(blocks):
            raise ValueError("ResidualMLP: residual and blocks differ in "
                             "length")
    elif isinstance(module, nn.Sequential):
        layers = _layers(module)
        blocks, cur = [], None
        for layer in layers:
            if isinstance(layer, nn.Linear):
                if cur is not None:
                    blocks.append(cur)
                cur = [layer]
            elif cur is None:
                raise ValueError(f"{layer}: the first layer must be a Linear")
            else:
                cur.append(layer)
        if cur is None:
            raise ValueError("module has no Linear layer")
        if len(cur) != 1:
            raise ValueError(f"the last layer must be the output Linear "
                             f"(jitmlp's output layer is linear); got "
                             f"{cur[-1]} after it")
        out_layers = cur
        residual_flags = [False] * len(blocks)
    else:
        raise TypeError(f"module must be an nn.Sequential of Linear, "
                        f"BatchNorm1d, LayerNorm and activation layers (or "
                        f"the ResidualMLP of to_torch); got "
                        f"{type(module).__name__}")
    out = out_layers[0]
    if not isinstance(out, nn.Linear) or len(out_layers) != 1:
        raise ValueError(f"the output layer must be one Linear; got "
                         f"{out_layers}")
    if out.bias is None:
        raise ValueError(f"{out}: the output Linear needs a bias (jitmlp's "
                         f"output layer has one)")

    # ---- read the hidden blocks: Linear, [norm], [activation]
    norms, acts, eps, momentum, parsed = set(), set(), set(), set(), []
    drops = []
    for i, blk in enumerate(blocks):
        lin, rest = blk[0], blk[1:]
        if not isinstance(lin, nn.Linear):
            raise ValueError(f"hidden block {i} must start with a Linear; "
                             f"got {lin}")
        norm_layer = act = None
        drop = None
        for layer in rest:
            name = None if drop is not None else _activation_name(layer)
            if isinstance(layer, (nn.BatchNorm1d, nn.LayerNorm)) \
                    and norm_layer is None and act is None and drop is None:
                norm_layer = layer
            elif name is not None and act is None:
                act = name
            elif type(layer) is nn.Dropout and drop is None:
                drop = float(layer.p)   # on the activation's output
            else:
                raise ValueError(
                    f"hidden block {i}: cannot convert {layer} here (jitmlp "
                    f"expects Linear, then an optional BatchNorm1d or "
                    f"LayerNorm, then one activation, then an optional "
                    f"Dropout)")
        drops.append(drop or 0.0)
        act = act or "identity"
        acts.add(act)
        kind = None
        if isinstance(norm_layer, nn.BatchNorm1d):
            kind = "batch"
            if not norm_layer.track_running_stats \
                    or norm_layer.running_mean is None:
                raise ValueError(f"{norm_layer}: track_running_stats=False "
                                 f"(batch statistics in evaluation mode) has "
                                 f"no jitmlp equivalent")
            if norm_layer.momentum is None:
                raise ValueError(f"{norm_layer}: momentum=None (a cumulative "
                                 f"average) has no jitmlp equivalent; set a "
                                 f"momentum")
            momentum.add(float(norm_layer.momentum))
            eps.add(float(norm_layer.eps))
        elif isinstance(norm_layer, nn.LayerNorm):
            kind = "layer"
            if tuple(norm_layer.normalized_shape) != (lin.out_features,):
                raise ValueError(f"{norm_layer}: jitmlp's LayerNorm runs over "
                                 f"the {lin.out_features} features of the "
                                 f"layer")
            eps.add(float(norm_layer.eps))
        norms.add(kind)
        parsed.append((lin, norm_layer, kind))
    if len(acts) > 1:
        raise ValueError(f"every hidden layer of a jitmlp MLP has the same "
                         f"activation; the module has {sorted(acts)}")
    if len(norms) > 1:
        raise ValueError(f"every hidden layer of a jitmlp MLP has the same "
                         f"normalisation; the module mixes "
                         f"{sorted(map(str, norms))}")
    for what, vals in (("eps", eps), ("momentum", momentum)):
        if len(vals) > 1:
            raise ValueError(f"the normalisation layers' {what} differ "
                             f"({sorted(vals)}); jitmlp has one for all "
                             f"layers")
    norm = norms.pop() if norms else None

    # ---- sizes, residual flags, dtype
    sizes = [parsed[0][0].in_features if parsed else out.in_features]
    for lin, _, _ in parsed:
        if lin.in_features != sizes[-1]:
            raise ValueError(f"{lin}: in_features {lin.in_features} does not "
                             f"match the previous width {sizes[-1]}")
        sizes.append(lin.out_features)
    if out.in_features != sizes[-1]:
        raise ValueError(f"{out}: in_features {out.in_features} does not "
                         f"match the previous width {sizes[-1]}")
    sizes.append(out.out_features)
    residual = any(residual_flags)
    for l, flag in enumerate(residual_flags):
        if flag != (residual and sizes[l] == sizes[l + 1]):
            raise ValueError(
                f"hidden block {l}: jitmlp adds the residual branch exactly "
                f"on the layers whose input and output widths match; the "
                f"module's flags {residual_flags} for sizes {sizes} differ")
    if dtype is None:
        tdt = out.weight.dtype
        if tdt not in _DTYPES:
            raise ValueError(f"the module's parameters are {tdt}; pass "
                             f"dtype='float32' or 'float64'")
        dtype = _DTYPES[tdt]
    kw = {"norm_eps": eps.pop()} if eps else {}
    if momentum:
        kw["bn_momentum"] = momentum.pop()
    if any(drops):
        kw["dropout"] = drops
    model = cls(sizes, activation=acts.pop() if acts else "identity",
                norm=norm, residual=residual, loss=loss, dtype=dtype, **kw)

    # ---- parameters
    state = {}
    for l, (lin, nl, kind) in enumerate(parsed):
        p = f"hidden.{l}"
        state[p + ".W"] = _np(lin.weight).T
        bias = _np(lin.bias) if lin.bias is not None \
            else np.zeros(lin.out_features)
        if kind == "batch":
            # fold the Linear bias into the running mean (see docstring)
            state[p + ".running_mean"] = _np(nl.running_mean) - bias
            state[p + ".running_var"] = _np(nl.running_var)
        else:
            state[p + ".b"] = bias
        if kind is not None:
            K = lin.out_features
            affine = nl.weight is not None
            state[p + ".gamma"] = _np(nl.weight) if affine else np.ones(K)
            state[p + ".beta"] = _np(nl.bias) if getattr(nl, "bias", None) \
                is not None else np.zeros(K)
    state["out.W"] = _np(out.weight).T
    state["out.b"] = _np(out.bias)
    model.load_state_dict(state)
    return model.train(module.training)


def to_torch(model):
    """See :meth:`jitmlp.MLP.to_torch`."""
    if model.activation not in TORCH_ACTIVATIONS:
        raise NotImplementedError(f"no PyTorch layer for the activation "
                                  f"{model.activation!r}")
    tdt = _TORCH_DTYPES[model.dtype.name]
    sd = model.state_dict()
    sizes = model.sizes

    def tensor(a):
        return torch.as_tensor(np.array(a, copy=True), dtype=tdt)

    blocks, flags = [], []
    for l in range(len(sizes) - 2):
        p = f"hidden.{l}"
        n_in, n_out = sizes[l], sizes[l + 1]
        lin = nn.Linear(n_in, n_out, bias=p + ".b" in sd, dtype=tdt)
        with torch.no_grad():
            lin.weight.copy_(tensor(sd[p + ".W"].T))
            if lin.bias is not None:
                lin.bias.copy_(tensor(sd[p + ".b"]))
        layers = [lin]
        if model.norm == "batch":
            bn = nn.BatchNorm1d(n_out, eps=model.norm_eps,
                                momentum=model.bn_momentum, dtype=tdt)
            with torch.no_grad():
                bn.weight.copy_(tensor(sd[p + ".gamma"]))
                bn.bias.copy_(tensor(sd[p + ".beta"]))
                bn.running_mean.copy_(tensor(sd[p + ".running_mean"]))
                bn.running_var.copy_(tensor(sd[p + ".running_var"]))
            layers.append(bn)
        elif model.norm == "layer":
            ln = nn.LayerNorm(n_out, eps=model.norm_eps, dtype=tdt)
            with torch.no_grad():
                ln.weight.copy_(tensor(sd[p + ".gamma"]))
                ln.bias.copy_(tensor(sd[p + ".beta"]))
            layers.append(ln)
        layers.append(TORCH_ACTIVATIONS[model.activation]())
        rate = model.dropout if not isinstance(model.dropout, list) \
            else model.dropout[l]
        if rate > 0:   # same rate, not the same masks (torch draws its own)
            layers.append(nn.Dropout(rate))
        blocks.append(layers)
        flags.append(model.residual and n_in == n_out)
    out = nn.Linear(sizes[-2], sizes[-1], dtype=tdt)
    with torch.no_grad():
        out.weight.copy_(tensor(sd["out.W"].T))
        out.bias.copy_(tensor(sd["out.b"]))
    if any(flags):
        module = ResidualMLP([nn.Sequential(*b) for b in blocks], flags, out)
    else:
        module = nn.Sequential(*[layer for b in blocks for layer in b], out)
    return module.train(model.training)


__all__ = ["from_torch", "to_torch", "ResidualMLP", "TORCH_ACTIVATIONS"]
