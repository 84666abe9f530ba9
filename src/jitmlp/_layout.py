"""The integer layout table and the offsets of every tensor in the flat buffers.

``params`` holds, layer after layer, ``W`` (n_in, n_out, row-major), then
``b``, ``gamma``, ``beta`` where they exist; the gradient and the optimizer
moments share this layout.  Running statistics live in a second flat buffer
``stats`` (they are not trained).  See :mod:`jitmlp.kernels.consts` for the
columns of the table.
"""
import functools
from dataclasses import dataclass

import numpy as np

from .kernels import consts as C
from .kernels.structs import Workspace


@dataclass(frozen=True)
class Layout:
    """The architecture as the kernels see it (``model.layout``).

    ``table`` (n_layers, NCOL) int64: one row per dense layer, columns named
    in :mod:`jitmlp.kernels.consts`; ``segments`` (n, 3) int64 rows
    (start, end, decay) covering params; ``entries`` (name, buffer, offset,
    shape) of every tensor; sizes and unit counts for the workspaces.
    Both tables are read-only.
    """
    table: np.ndarray        # (n_layers, NCOL) int64
    n_params: int
    n_stats: int
    segments: np.ndarray     # (n, 3) int64: start, end, decay
    entries: tuple           # (name, buffer, offset, shape)
    sizes: tuple
    total_units: int
    hidden_units: int
    max_width: int
    has_norm: bool

    @functools.cached_property
    def longest_segment(self):
        """int: parameters in the longest segment (what decides whether the
        update is worth splitting over threads)."""
        seg = self.segments
        return int((seg[:, 1] - seg[:, 0]).max()) if seg.shape[0] else 0


def dropout_parts(p):
    """A dropout rate p in [0, 1) in parts per 2^32 (the DROP column)."""
    return min(int(round(float(p) * C.DROP_ONE)), C.DROP_ONE - 1)


def build_layout(sizes, act_code, norm_code, residual, dropout=None):
    """Layout of a network ``sizes = [d, K1, ..., KL, out]``; ``dropout``:
    one rate in [0, 1) per hidden layer (None: no dropout)."""
    n_layers = len(sizes) - 1
    table = np.zeros((n_layers, C.NCOL), dtype=np.int64)
    entries = []
    segments = []
    p = 0
    s = 0
    unit = 0
    zoff = 0

    def seg(start, end, decay):
        if end <= start:
            return
        if segments and segments[-1][2] == decay and segments[-1][1] == start:
            segments[-1][1] = end
        else:
            segments.append([start, end, decay])

    for l in range(n_layers):
        n_in, n_out = sizes[l], sizes[l + 1]
        hidden = l < n_layers - 1
        prefix = f"hidden.{l}" if hidden else "out"
        row = table[l]
        row[C.N_IN], row[C.N_OUT] = n_in, n_out
        row[C.ACT] = act_code if hidden else C.ACT_IDENTITY
        norm = norm_code if hidden else C.NORM_NONE
        row[C.NORM] = norm
        row[C.RESID] = int(bool(residual) and hidden and n_in == n_out)
        row[C.DROP] = dropout_parts(dropout[l]) if (hidden and dropout) else 0
        row[C.DROP_SCALE] = np.array(
            1.0 / (1.0 - (dropout[l] if (hidden and dropout) else 0.0)),
            np.float64).view(np.int64)
        row[C.OFF_W] = p
        entries.append((prefix + ".W", "params", p, (n_in, n_out)))
        seg(p, p + n_in * n_out, 1)
        p += n_in * n_out
        row[C.OFF_B] = row[C.OFF_GAMMA] = row[C.OFF_BETA] = -1
        row[C.OFF_RMEAN] = row[C.OFF_RVAR] = -1
        if not (hidden and norm == C.NORM_BATCH):
            row[C.OFF_B] = p
            entries.append((prefix + ".b", "params", p, (n_out,)))
            seg(p, p + n_out, 0)
            p += n_out
        if norm != C.NORM_NONE:
            row[C.OFF_GAMMA] = p
            entries.append((prefix + ".gamma", "params", p, (n_out,)))
            row[C.OFF_BETA] = p + n_out
            entries.append((prefix + ".beta", "params", p + n_out, (n_out,)))
            seg(p, p + 2 * n_out, 0)
            p += 2 * n_out
        if norm == C.NORM_BATCH:
            row[C.OFF_RMEAN] = s
            entries.append((prefix + ".running_mean", "stats", s, (n_out,)))
            row[C.OFF_RVAR] = s + n_out
            entries.append((prefix + ".running_var", "stats", s + n_out,
                            (n_out,)))
            s += 2 * n_out
        row[C.X_IN] = unit
        unit += n_in
        row[C.X_OUT] = unit
        row[C.Z_OFF] = zoff
        if hidden:
            zoff += n_out
    total_units = unit + sizes[-1]
    segments = np.array(segments, dtype=np.int64).reshape(-1, 3)
    # read-only: the kernels trust these tables (the kernels are compiled
    # for read-only integer tables, always, so this costs no second set)
    table.flags.writeable = False
    segments.flags.writeable = False
    return Layout(table=table, n_params=p, n_stats=s, segments=segments,
                  entries=tuple(entries), sizes=tuple(sizes),
                  total_units=total_units, hidden_units=zoff,
                  max_width=max(sizes), has_norm=norm_code != C.NORM_NONE)


def sparse_table(layout):
    """The layout table for sparse input: x^(0) has no block in the
    activation workspace, so every unit offset moves down by d (layer 1's
    X_IN becomes -d and is never read: kernels/sparse.py reads the CSR rows
    instead).  Read-only, like ``layout.table``."""
    table = layout.table.copy()
    d = layout.sizes[0]
    table[:, C.X_IN] -= d
    table[:, C.X_OUT] -= d
    table.flags.writeable = False
    return table


def make_workspace(layout, capacity, y_cols, dtype, sparse=False):
    """The :class:`~jitmlp.kernels.structs.Workspace` for batches of up to
    ``capacity`` rows (allocated once, reused by every batch).

    ``sparse``: for a sparse X (with :func:`sparse_table`): no (B, d) block
    for x^(0), and room for the batch's row indices; the CSR arrays of X
    are bound per call (``ws._replace(sp_data=..., ...)``)."""
    B = int(capacity)
    H = max(layout.hidden_units, 1)
    normed = B * H if layout.has_norm else 1
    mw = layout.max_width
    units = layout.total_units
    if sparse:   # d is the width of no dense block: dx and delta hold
        units -= layout.sizes[0]        # hidden and output widths only
        mw = max(layout.sizes[1:])
    return Workspace(
        x=np.zeros(B * units, dtype),
        dphi=np.zeros(B * H, dtype),
        xhat=np.zeros(normed, dtype),
        rstd=np.zeros(normed, dtype),
        feat=np.zeros(4 * mw, dtype),
        dx=np.zeros(2 * B * mw, dtype),
        delta=np.zeros(B * mw, dtype),
        y=np.zeros(max(B * y_cols, 1), dtype),
        stats_before=np.zeros(max(layout.n_stats, 1), dtype),
        # None on the dense path: a type of its own, so that the kernels
        # compiled for dense input contain no sparse code (sparse.py)
        sp_data=np.zeros(0, dtype) if sparse else None,
        sp_indices=np.zeros(0, np.int64) if sparse else None,
        sp_indptr=np.zeros(0, np.int64) if sparse else None,
        sp_rows=np.zeros(B, np.int64) if sparse else None,
        sp_threads=np.ones(1, np.int64) if sparse else None)
