"""The layout table, the parameter segments and the workspace (issue 11)."""
import itertools

import numpy as np
import pytest

import jitmlp as jm
from jitmlp import _io
from jitmlp._layout import build_layout, make_workspace
from jitmlp.kernels import consts as C
from jitmlp.kernels.structs import Workspace

SIZES = [[3, 1], [4, 5, 2], [6, 6, 6, 3], [2, 7, 7, 7, 4, 1]]


@pytest.mark.parametrize("sizes,norm,residual", list(itertools.product(
    SIZES, list(jm.registry.NORMS), [False, True])))
def test_every_tensor_has_one_place_and_the_table_agrees(sizes, norm,
                                                          residual):
    spec = jm.registry.norm(norm)
    lay = build_layout(sizes, C.ACT_TANH, spec.code, residual)
    t = lay.table
    assert t.shape == (len(sizes) - 1, C.NCOL) and t.dtype == np.int64
    assert not t.flags.writeable and not lay.segments.flags.writeable
    # params: every entry once, contiguous, no gap, no overlap
    owned = np.zeros(lay.n_params, int)
    owned_stats = np.zeros(lay.n_stats, int)
    for name, buf, off, shape in lay.entries:
        (owned if buf == "params" else owned_stats)[
            off:off + int(np.prod(shape))] += 1
    assert (owned == 1).all() and (owned_stats == 1).all()
    assert (lay.n_params, lay.n_stats) == _io.count_buffers(sizes, norm)
    # segments cover params in order; decay exactly on the W matrices
    seg = lay.segments
    assert seg[0, 0] == 0 and seg[-1, 1] == lay.n_params
    assert (seg[1:, 0] == seg[:-1, 1]).all()
    decay = np.zeros(lay.n_params, bool)
    for a, b, d in seg:
        decay[a:b] = d == 1
    for name, buf, off, shape in lay.entries:
        if buf == "params":
            assert decay[off:off + int(np.prod(shape))].all() == \
                name.endswith(".W")
    # per layer: widths, offsets, flags
    units = 0
    hidden_units = 0
    for l in range(len(sizes) - 1):
        n_in, n_out = sizes[l], sizes[l + 1]
        hidden = l < len(sizes) - 2
        row = t[l]
        assert (row[C.N_IN], row[C.N_OUT]) == (n_in, n_out)
        assert row[C.ACT] == (C.ACT_TANH if hidden else C.ACT_IDENTITY)
        assert row[C.NORM] == (spec.code if hidden else C.NORM_NONE)
        assert row[C.RESID] == int(residual and hidden and n_in == n_out)
        assert (row[C.OFF_B] < 0) == (hidden and spec.drops_bias)
        assert (row[C.OFF_GAMMA] >= 0) == (hidden and norm is not None)
        assert (row[C.OFF_RMEAN] >= 0) == (hidden and spec.running_stats)
        assert row[C.X_IN] == units and row[C.X_OUT] == units + n_in
        assert row[C.Z_OFF] == hidden_units
        units += n_in
        hidden_units += n_out if hidden else 0
    assert lay.total_units == units + sizes[-1]
    assert lay.hidden_units == hidden_units


def test_workspace_is_named_and_sized_for_the_capacity():
    lay = build_layout([5, 8, 8, 3], C.ACT_RELU, C.NORM_BATCH, True)
    ws = make_workspace(lay, 16, 1, np.float32)
    assert isinstance(ws, Workspace)
    # dense input: the sparse fields are None, a Workspace type of its own
    # whose kernels hold no sparse code (kernels/sparse.py)
    sp = ("sp_data", "sp_indices", "sp_indptr", "sp_rows", "sp_threads")
    assert all(getattr(ws, k) is None for k in sp)
    arrays = [a for k, a in ws._asdict().items() if k not in sp]
    assert all(a.ndim == 1 and a.dtype == np.float32 for a in arrays)
    sws = make_workspace(lay, 16, 1, np.float32, sparse=True)
    assert sws.sp_rows.size == 16
    assert sws.sp_indices.dtype == sws.sp_rows.dtype == np.int64
    assert sws.sp_threads.tolist() == [1]   # one thread unless a plan says
    assert ws.x.size == 16 * lay.total_units
    assert ws.dphi.size == 16 * lay.hidden_units
    assert ws.delta.size == 16 * lay.max_width
    assert ws.dx.size == 2 * 16 * lay.max_width
    assert ws.stats_before.size == lay.n_stats


def test_model_layout_is_the_one_layout():
    m = jm.MLP([4, 6, 6, 2], norm="batch", residual=True, seed=0)
    assert m.layout.table.shape == (3, C.NCOL)
    sd = m.state_dict()
    for name, buf, off, shape in m.layout.entries:
        base = m.params if buf == "params" else m.stats
        assert np.shares_memory(sd[name], base)
    with pytest.raises(AttributeError):
        m.layout = None
