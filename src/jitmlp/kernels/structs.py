"""The named groups the kernels take, each built by the object that owns it.

Numba compiles functions that take named tuples once per field-type
signature and caches them on disk like functions of arrays (jitclass would
defeat ``cache=True``).  The Python side builds every tuple with fixed field
types (int64 ints, float64 floats, bools, arrays of the model's dtype), so
one kernel set per dtype serves every network, optimizer and trainer.

``Net`` (built by :class:`jitmlp.MLP`): what a forward/backward pass needs.
    layout    (n_layers, NCOL) int64, the layout table (consts.py columns)
    segments  (n, 3) int64 rows (start, end, decay) covering params; weight
              decay touches decay == 1 (the W matrices) only
    params    (n_params,) the flat trainable parameters
    stats     (n_stats,) BatchNorm running statistics (empty without it)
    loss      int, the loss code
    bn_momentum, norm_eps  float
    huber_delta  float, delta of the Huber loss (unused by other losses)
    mask_seed    int (>= 0, < 2^63), the key of the dropout masks: the mask of
              a unit is a hash of (mask_seed, step, row of the batch, unit)

``Workspace`` (built by the model for a batch capacity B): scratch, no
allocation per batch.
    x         activations x^(0..L+1), (B * total_units)
    dphi      phi'(a) of every hidden unit, (B * hidden_units)
    xhat      normalised pre-activations, (B * hidden_units) or 1
    rstd      1/sqrt(var + eps) per feature (BatchNorm) or per sample
    feat      per-feature scratch, (4 * max_width)
    dx        dL/dx ping-pong, (2 * B * max_width)
    delta     delta = dL/dz of the current layer, (B * max_width)
    y         the gathered targets, (B * y_cols); with sample weights the
              weight is one more, trailing, column (see losses.py)
    stats_before  the running statistics before the current step
    sp_data, sp_indices, sp_indptr  sparse input: the CSR arrays of the
              whole X (bound per call, see sparse.py; int64 indices); empty
              for dense input, where x^(0) is the head of ``x``
    sp_rows   sparse input: the rows of X in the current batch, (B,) int64;
              with sparse input ``x`` holds no x^(0) block
    sp_threads  sparse input: (1,) int64, the threads the first layer's
              sparse products may use (the epoch kernel writes its plan's
              count; 1 elsewhere); results do not depend on it

``OptHyper`` (built by the optimizer): its update rule and hyper-parameters,
PyTorch's names.  ``OptState``: the state buffers in the params layout, in
three slots (an optimizer declares which PyTorch-named buffers it uses and
the slot of each; unused slots are empty).

``EpochPlan`` (built by the Trainer): the steps to run and their settings.
``EpochOut``: what the epoch kernel reports back.
"""
from collections import namedtuple

Net = namedtuple("Net", ["layout", "segments", "params", "stats", "loss",
                         "bn_momentum", "norm_eps", "huber_delta",
                         "mask_seed"])

Workspace = namedtuple("Workspace", ["x", "dphi", "xhat", "rstd", "feat",
                                     "dx", "delta", "y", "stats_before",
                                     "sp_data", "sp_indices", "sp_indptr",
                                     "sp_rows", "sp_threads"])

OptHyper = namedtuple("OptHyper", [
    "rule",            # int, consts.RULE_*
    "weight_decay",    # float: L2 (g += wd p) or, decoupled, p *= 1 - lr wd
    "decoupled",       # bool: AdamW's decoupled weight decay
    "momentum",        # float: SGD / RMSprop momentum
    "nesterov",        # bool
    "beta1", "beta2",  # float: Adam's moment decay rates
    "eps",             # float
    "alpha",           # float: RMSprop's smoothing constant
    "centered",        # bool: RMSprop centered
    "lr_decay",        # float: Adagrad
    "amsgrad",         # bool: Adam / AdamW
])

# Three slots serve every rule (an optimizer maps its PyTorch-named buffers
# onto them in jitmlp/optim.py): each array passed down the per-step call
# chain costs reference counting, and 7 named buffers, most of them empty,
# made the per-sample step 4 % slower than 3 (measured; see update.py).
OptState = namedtuple("OptState", [
    "m",     # first moment / momentum: exp_avg (Adam), momentum_buffer
    "v",     # second moment / accumulator: exp_avg_sq (Adam), square_avg
             # (RMSprop), sum (Adagrad)
    "aux",   # a third buffer: max_exp_avg_sq (amsgrad), grad_avg (RMSprop
             # centered)
])

EpochPlan = namedtuple("EpochPlan", [
    "order",           # (n,) int64 rows in visiting order
    "batch_size",      # int
    "lrs",             # (steps,) float64 learning rate of every step
    "t0",              # int: optimizer steps before this epoch
    "clip",            # float: global-norm clipping threshold (0: none)
    "gnorm_stride",    # int: record ||dW|| every k-th step (0: never)
    "n_threads",       # int: threads for the parallel update
    "s_begin", "s_end",  # int: run steps s_begin <= s < s_end
])

EpochOut = namedtuple("EpochOut", [
    "step_loss",       # (steps,) float64 mean batch loss before each update
    "gnorm_acc",       # (n_layers + 1,) float64 sums of ||dW||, and count
    "info",            # (2,) int64: why the loop stopped (consts.STOP_*),
                       # and the steps of the epoch completed
])
