"""Every ``@njit`` function of jitmlp, and nothing else.

Kernels take arrays and scalars only (flat buffers, the integer layout table,
the data, a workspace tuple), so each compiles once per dtype and is cached on
disk whatever the depth and widths of the network.

Every kernel is decorated with ``_jit.kernel()``, i.e.
``@njit(cache=True, error_model="numpy")`` with a cache folder that works on
read-only installs too (see ``_jit.py``; ``cache=False`` when no folder is
writable).  ``error_model="numpy"``: Numba's default
Python error model tests every float division for zero and raises, a branch
that stops LLVM from vectorising the loop (the Adam update ran 6x slower);
with the numpy model x/0 gives inf or nan, which the training loop already
detects and reports.
"""
from .dense import backward_batch, forward_batch, mm_nn, mm_nt, mm_tn
from .epoch import (batch_loss_grad, gather, train_epoch,
                    train_epoch_parallel)
from .losses import loss_and_delta
from .norm import (batchnorm_backward, batchnorm_forward, layernorm_backward,
                   layernorm_forward)
from .update import apply_update, undo_update

__all__ = [
    "apply_update", "backward_batch", "batch_loss_grad", "batchnorm_backward",
    "batchnorm_forward", "forward_batch", "gather",
    "layernorm_backward", "layernorm_forward", "loss_and_delta", "mm_nn",
    "mm_nt", "mm_tn", "train_epoch", "train_epoch_parallel", "undo_update",
]
