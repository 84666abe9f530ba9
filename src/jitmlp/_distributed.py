"""Data-parallel training over an MPI communicator (``Trainer(comm=...)``).

Imported by the Trainer only when a communicator is given, and mpi4py only
from here: ``import jitmlp`` never loads MPI.

Every step is a Python loop over cached kernels (no MPI inside @njit, which
would disable ``cache=True``):

    gather + batch_loss_grad      this rank's rows (mean gradient)
    Allreduce(SUM) in place       [gradient * rows | loss sum | rows | Ctrl-C]
    apply_update                  the same fused update on every rank

Models with BatchNorm go layer by layer (kernels/layers.py) with two
Allreduces of per-feature sums per BatchNorm layer forward and one backward,
so that the batch statistics are those of the global batch.

All decisions (loss and divergence checks, interruption, early stopping) are
made from reduced values, so every rank takes the same branch at the same
step and no rank waits for a collective another rank skipped.
"""
import math
import os
import sys
import warnings

import numpy as np

from .kernels import consts as C
from .kernels.epoch import batch_loss_grad, gather, sq_norm
from .kernels.layers import (backward_post, backward_pre, bn_apply_act,
                             bn_sqdev, bn_sums, linear_forward, loss_delta,
                             norm_act)
from .kernels.update import apply_update, parallel_parts, undo_update

# environment variables through which launchers announce the world size
_LAUNCH_SIZE_VARS = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE",
                     "MPI_LOCALNRANKS", "SLURM_NTASKS", "MV2_COMM_WORLD_SIZE")


def _mpi():
    from mpi4py import MPI
    return MPI


def check_comm(comm):
    """Validate a communicator and detect a mismatched launch.

    A launcher that sets a world size larger than ``comm.size`` (e.g. Open
    MPI's ``mpiexec`` starting a script whose mpi4py uses MPICH: every
    process then is a 1-rank world of its own) is reported as an error.
    """
    for attr in ("Allreduce", "Bcast", "allgather", "rank", "size"):
        if not hasattr(comm, attr):
            raise TypeError(f"comm must be an mpi4py communicator (e.g. "
                            f"MPI.COMM_WORLD); got {type(comm).__name__}")
    size = comm.size
    if size > 1 and "mpi4py.run" not in sys.modules:
        warnings.warn(
            "Trainer(comm=...) outside 'python -m mpi4py': an exception on "
            "one rank will leave the other ranks waiting in a collective "
            "forever; launch as 'mpiexec -n R python -m mpi4py script.py' so "
            "that it aborts the job", RuntimeWarning, stacklevel=3)
    for var in _LAUNCH_SIZE_VARS:
        val = os.environ.get(var)
        if var == "SLURM_NTASKS" and "PMI_SIZE" not in os.environ \
                and "PMIX_SIZE" not in os.environ:
            continue   # an sbatch allocation without srun: no launch size
        try:
            announced = int(val) if val is not None else None
        except ValueError:
            announced = None
        if announced is not None and announced > size:
            raise RuntimeError(
                f"mismatched MPI launch: the launcher announced {announced} "
                f"processes ({var}={val}) but this communicator has {size}; "
                f"mpi4py is probably linked against another MPI library than "
                f"the mpiexec used (each process is then a 1-rank world). "
                f"Use the mpiexec of the MPI that mpi4py uses "
                f"(python -c 'import mpi4py; print(mpi4py.get_config())')")


def agree(comm, what, value):
    """Raise the same ValueError on every rank unless ``value`` is equal on
    all ranks (checked before any collective whose shape depends on it)."""
    values = comm.allgather(value)
    if any(v != values[0] for v in values):
        raise ValueError(f"{what} differs between ranks: {values}; every rank "
                         f"must use the same model, optimizer and settings")


def broadcast_state(comm, trainer):
    """Parameters, running statistics, optimizer state and step count,
    epoch count and schedule state from rank 0 to every rank."""
    m = trainer.model
    opt = trainer.optimizer
    comm.Bcast(m._params, root=0)
    if m._stats.size:
        comm.Bcast(m._stats, root=0)
    for k in sorted(opt.state):
        comm.Bcast(opt.state[k], root=0)
    t, epoch, sched = comm.bcast(
        (opt.t, trainer.epoch, trainer.schedule.state_dict()), root=0)
    opt.t = t
    trainer.epoch = epoch
    trainer.schedule.load_state_dict(sched)


def rows_table(comm, n_local, batch, sampling, steps=None):
    """(steps, R) int64: the rows every rank uses at every step.

    "epoch" sampling: steps = max over ranks of ceil(n_r / batch); rank r
    uses min(batch, n_r - s*batch) rows at step s, 0 once its shard is used
    up (it still takes part in the collectives, contributing nothing).
    "uniform": every rank draws ``batch`` rows every step."""
    ns = np.array(comm.allgather(int(n_local)), np.int64)
    if steps is None:
        steps = int(max(-(-ns // batch)))
    s = np.arange(steps, dtype=np.int64)[:, None]
    if sampling == "uniform":
        return np.full((steps, ns.size), batch, np.int64)
    return np.clip(ns[None, :] - s * batch, 0, batch)


class StepRunner:
    """The per-step loop of one epoch (or one ``Trainer.step``)."""

    def __init__(self, trainer):
        self.t = trainer
        self.comm = trainer.comm
        m = trainer.model
        self.sync_bn = m.norm == "batch"
        P = m.params.size
        self.P = P
        # gradient and the three scalars reduced with it, in one buffer
        self.buf = np.zeros(P + 3, m.dtype)
        self.grad = self.buf[:P]
        lay = m._layout.table
        self.nl = lay.shape[0]
        self.norms = [int(lay[l, C.NORM]) for l in range(self.nl)]
        width = int(lay[:, C.N_OUT].max())
        self.red = np.zeros(2 * width + 1, np.float64)
        self.mu = np.zeros(width, np.float64)
        self.MPI = _mpi()

    def run(self, X, Y, order, rows, lrs, stride, stop_flag=None,
            on_chunk=None):
        """Steps 0 <= s < len(lrs); returns as Trainer._run does."""
        import time

        import numba
        t = self.t
        m = t.model
        opt = t.optimizer
        comm = self.comm
        MPI = self.MPI
        rank = comm.rank
        hy = opt.hyper()
        st = opt._state_tuple(m.dtype)
        steps = lrs.shape[0]
        step_loss = np.zeros(steps, np.float64)
        nl = self.nl
        gnorm_acc = np.zeros(nl + 1, np.float64)
        lay = m._layout.table
        cap = int(max(1, rows[:, rank].max()))
        net, ws, X = m._kernel_inputs(X, cap, Y.shape[1])
        yc = Y.shape[1]
        P = self.P
        buf = self.buf
        grad = self.grad
        stats = m._stats
        S = stats.size
        stats_before = np.empty_like(stats)
        clip = float(t.clip_grad_norm or 0.0)
        parts = int(parallel_parts(net.segments, int(numba.get_num_threads())))
        t0 = opt.t
        secs = 0.0
        last_report = time.perf_counter()
        start = 0
        for s in range(steps):
            tic = time.perf_counter()
            B = int(rows[s, rank])
            N = int(rows[s].sum())
            if S:
                stats_before[...] = stats
            if self.sync_bn:
                gather(X, Y, order, start, B, ws)
                total = self._bn_loss_grad(net, ws, B, N, yc)
                gscale = 1.0
            else:
                if B > 0:
                    gather(X, Y, order, start, B, ws)
                    total = batch_loss_grad(net, grad, ws, B, yc, True,
                                            1.0 / B, t0 + s + 1, 0)
                else:
                    grad[...] = 0.0
                    total = 0.0
                active = rows[s][rows[s] > 0]
                if np.all(active == active[0]):
                    gscale = float(active[0]) / N   # sum of means * b / N
                else:
                    if B > 0:
                        grad *= grad.dtype.type(B)
                    gscale = 1.0 / N
            buf[P] = total
            buf[P + 1] = B
            buf[P + 2] = 1.0 if (stop_flag is not None and stop_flag.hit) \
                else 0.0
            comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
            start += B
            loss = float(buf[P]) / N
            step_loss[s] = loss
            interrupted = buf[P + 2] > 0
            stop = 0
            if not math.isfinite(loss):
                stop = C.STOP_LOSS
            elif S and not np.isfinite(stats).all():
                stop = C.STOP_STATS
            if stop == 0 and clip > 0.0:
                gn = math.sqrt(sq_norm(grad, 0, P)) * gscale
                if not math.isfinite(gn):
                    stop = C.STOP_GRAD
                elif gn > clip:
                    gscale *= clip / (gn + 1e-6)
            if stop == 0 and stride > 0 and s % stride == 0:
                for l in range(nl):
                    ow = int(lay[l, C.OFF_W])
                    n = int(lay[l, C.N_IN] * lay[l, C.N_OUT])
                    gnorm_acc[l] += math.sqrt(sq_norm(grad, ow, ow + n)) * \
                        abs(gscale)
                gnorm_acc[nl] += 1.0
            if stop == 0:
                bad = apply_update(m._params, grad, net.segments, hy, st,
                                   float(lrs[s]), int(t0 + s + 1),
                                   float(gscale), parts)
                if bad != 0:
                    undo_update(m._params, grad, st)
                    stop = C.STOP_UPDATE
            if stop:
                if S:
                    stats[...] = stats_before
                opt.t = t0 + s
                secs += time.perf_counter() - tic
                return s, step_loss, gnorm_acc, stop, secs
            opt.t = t0 + s + 1
            now = time.perf_counter()
            secs += now - tic
            if on_chunk is not None and (now - last_report > 0.1
                                         or s + 1 == steps):
                on_chunk(s + 1, step_loss)
                last_report = now
            if interrupted and s + 1 < steps:
                return s + 1, step_loss, gnorm_acc, 0, secs
        return steps, step_loss, gnorm_acc, 0, secs

    def _bn_loss_grad(self, net, ws, B, N, yc):
        """Forward and backward with synchronised BatchNorm; the gradient
        (of the global mean loss, this rank's share) goes into self.grad."""
        comm = self.comm
        MPI = self.MPI
        red = self.red
        mu = self.mu
        grad = self.grad
        nl = self.nl
        lay = net.layout
        for l in range(nl):
            linear_forward(net, ws, B, l)
            if l == nl - 1:
                break
            if self.norms[l] == C.NORM_BATCH:
                K = int(lay[l, C.N_OUT])
                bn_sums(net, ws, B, l, red)
                comm.Allreduce(MPI.IN_PLACE, red[:K], op=MPI.SUM)
                np.divide(red[:K], N, out=mu[:K])
                bn_sqdev(net, ws, B, l, mu, red)
                comm.Allreduce(MPI.IN_PLACE, red[:K], op=MPI.SUM)
                bn_apply_act(net, ws, B, l, mu, red, float(N), True)
            else:
                norm_act(net, ws, B, l)
        total = loss_delta(net, ws, B, yc, 1.0 / N)
        slot = 0
        for l in range(nl - 1, -1, -1):
            if l < nl - 1:
                backward_pre(net, grad, ws, B, l, slot, red)
                if self.norms[l] == C.NORM_BATCH:
                    K = int(lay[l, C.N_OUT])
                    comm.Allreduce(MPI.IN_PLACE, red[:2 * K], op=MPI.SUM)
            slot = backward_post(net, grad, ws, B, l, slot, red, float(N))
        return total
