"""Integer codes shared by the kernels and the Python layer.

The layout table is an ``int64`` array of shape ``(n_layers, NCOL)``, one row
per dense layer (hidden layers first, the linear output layer last).  Offsets
``X_IN``, ``X_OUT`` and ``Z_OFF`` are in *units* (neurons); a workspace slice
for a batch of ``B`` rows starts at ``B * offset``.  Module-level integers are
compile-time constants to Numba.
"""

# columns of the layout table
N_IN = 0        # fan-in of the layer
N_OUT = 1       # fan-out of the layer
ACT = 2         # activation code (identity for the output layer)
NORM = 3        # normalisation code
RESID = 4       # 1 if x^(l) = x^(l-1) + phi(z^(l))
OFF_W = 5       # offset of W (n_in, n_out) in params
OFF_B = 6       # offset of b (n_out,) in params, -1 if none
OFF_GAMMA = 7   # offset of gamma (n_out,) in params, -1 if none
OFF_BETA = 8    # offset of beta (n_out,) in params, -1 if none
OFF_RMEAN = 9   # offset of running_mean in the statistics buffer, -1 if none
OFF_RVAR = 10   # offset of running_var in the statistics buffer, -1 if none
X_IN = 11       # unit offset of the layer input x^(l-1) in the activation workspace
X_OUT = 12      # unit offset of the layer output x^(l) in the activation workspace
Z_OFF = 13      # unit offset in the per-hidden-unit workspaces (phi', xhat, rstd)
DROP = 14       # dropout rate of the layer's output in parts per 2^32 (0: none)
DROP_SCALE = 15  # the float64 bits of 1 / (1 - p), the inverted-dropout scale
NCOL = 16

# dropout: a unit is kept when the top 32 bits of its hash are >= the
# layer's DROP entry, i.e. with probability 1 - DROP / 2^32 (1 - p to within
# 2^-33), and then multiplied by 1 / (1 - p) exactly (DROP_SCALE)
DROP_ONE = 1 << 32

# activation codes
ACT_IDENTITY = 0
ACT_RELU = 1
ACT_LEAKY_RELU = 2
ACT_TANH = 3
ACT_SIGMOID = 4
ACT_GELU = 5
ACT_ELU = 6
ACT_SILU = 7
ACT_SOFTPLUS = 8
LEAKY_SLOPE = 0.01

# normalisation codes
NORM_NONE = 0
NORM_BATCH = 1
NORM_LAYER = 2

# loss codes
LOSS_SQUARED = 0
LOSS_LOGISTIC = 1
LOSS_CROSS_ENTROPY = 2
LOSS_HUBER = 3
LOSS_POISSON = 4
LOSS_BCE = 5        # binary cross-entropy, multi-label

# optimizer update rules (kernels/update.py::update_range)
RULE_SGD = 0
RULE_ADAM = 1       # Adam and AdamW (OptHyper.decoupled)
RULE_RMSPROP = 2
RULE_ADAGRAD = 3

# why train_epoch stopped early (info[0]); 0: it did not
STOP_LOSS = 1      # the batch loss was not finite (nothing changed)
STOP_GRAD = 2      # the gradient norm was not finite (nothing changed)
STOP_UPDATE = 3    # the update made a parameter or moment non-finite (undone)
STOP_STATS = 4     # the running statistics would become non-finite (nothing changed)
