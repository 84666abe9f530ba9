"""The MLP: architecture, the flat parameter buffer, modes, inference and
gradients.  All numerical work happens in :mod:`jitmlp.kernels`; this module
validates, allocates and chooses what to run."""
import numbers
import threading

import numpy as np

from . import _io
from . import _compile
from . import _validation as V
from . import registry as R
from ._errors import NonFiniteOutputError
from ._layout import build_layout, make_workspace, sparse_table
from ._sparse import CSRRows
from .kernels import batch_loss_grad, forward_batch
from .kernels.losses import loss_and_delta
from .kernels import consts as C
from .kernels.structs import Net

FORMAT = _io.FORMAT
FORMAT_VERSION = _io.FORMAT_VERSION
_PREDICT_CHUNK = 1024
_PREDICT_UNITS = 1 << 20
# workspaces up to this size stay cached on the model between calls; larger
# ones (a full-batch loss_and_grad on 50k rows took 565 MiB) are freed after
# the call that needed them
_WS_CACHE_BYTES = 64 << 20
# rows per block when loss_and_grad sums the gradient of a large batch
# without BatchNorm (whose batch statistics need all rows at once)
_GRAD_CHUNK = 4096


class MLP:
    """A fully connected network ``[d, K1, ..., KL, out]`` with a linear output.

    Parameters
    ----------
    sizes : sequence of int
        Layer widths, input first and output last; ``[d, out]`` (no hidden
        layer) is a linear model.
    activation : str, default "relu"
        phi of every hidden layer, a name of :data:`jitmlp.registry.ACTIVATIONS`:
        "relu", "leaky_relu" (slope 0.01), "tanh", "sigmoid" (alias
        "logistic"), "identity", "gelu" (exact erf form), "elu" (alpha 1),
        "silu", "softplus".
    norm : {None, "batch", "layer"}
        Normalisation of every hidden pre-activation before phi.  With
        "batch" the hidden layers carry no bias.
    residual : bool
        ``x^(l) = x^(l-1) + phi(z^(l))`` for hidden layers with equal widths.
    loss : {"squared", "logistic", "cross_entropy", "huber", "poisson", \
"binary_cross_entropy"}
        Mean over the batch of ``0.5||y-h||^2``, ``log(1+exp(-y h))`` with
        y in {-1, 1}, ``-log softmax(h)_y`` with integer y, the Huber loss
        (``huber_delta``), the Poisson NLL ``exp(h) - y h`` (h the log-rate,
        y >= 0), or the multi-label ``log(1+exp(h)) - y h`` with y in {0, 1}
        (n, out); the last three summed over the outputs.  See
        :mod:`jitmlp.registry`.
    init : {"he", "xavier", "lecun"}
        ``W ~ N(0, init_scale^2 * 2/n_in)``, ``N(0, init_scale^2 * 2/(n_in+n_out))``
        or ``N(0, init_scale^2/n_in)``; biases 0, gamma 1, beta 0.
    init_scale : float
        Multiplies the standard deviation of every weight matrix.
    dtype : {"float32", "float64"}
    bn_momentum : float
        ``m`` of the running statistics ``r = (1-m) r + m s`` (PyTorch's).
    norm_eps : float
        eps in ``sqrt(var + eps)``.
    dropout : float in [0, 1) or one per hidden layer
        Inverted dropout on each hidden layer's activation output, before the
        residual add: ``x = [x_prev +] m * phi(.) / (1 - p)``, ``m ~
        Bernoulli(1 - p)`` per sample and unit, in training mode only (every
        forward pass in training mode: :class:`Trainer` steps,
        :meth:`loss_and_grad`, and :meth:`forward` / :meth:`loss` while
        :attr:`training`, as in PyTorch); evaluation mode is the identity.
        Masks are a hash of (seed, step, row, unit): the Trainer uses the
        optimizer step count ``t``, other calls :attr:`dropout_step` (0
        unless set), and the row index within the batch (within ``X`` for
        model calls).  Same seed, same masks, for any thread count.
    huber_delta : float > 0
        delta of the "huber" loss.
    seed : int >= 0 or None
        Same seed, same weights (in either dtype: drawn in float64, then cast)
        and the same dropout masks (a model without a seed draws a random
        mask key, kept by pickling but not by :meth:`save`).
        Numpy integers and floats are accepted wherever ints and floats are;
        the config keeps them as Python ``int`` and ``float``.

    Attributes
    ----------
    params : ndarray, 1-D
        The one flat buffer of all trainable parameters; writes change the model.
    stats : ndarray, 1-D
        The running statistics of BatchNorm (empty without it).
    training : bool
        True in training mode (the initial mode, as in PyTorch).
    dropout_step : int
        The step of the dropout masks of training-mode passes outside a
        :class:`Trainer` (0; fixed, so that :meth:`loss_and_grad` is a
        deterministic function of the parameters).

    Examples
    --------
    >>> import numpy as np, jitmlp as jm
    >>> model = jm.MLP([4, 16, 3], loss="cross_entropy", seed=0)
    >>> model.n_params, model.state_dict()["hidden.0.W"].shape
    (131, (4, 16))
    >>> model.predict(np.zeros((2, 4))).shape
    (2,)
    """

    def __init__(self, sizes, *, activation="relu", norm=None, residual=False,
                 loss="squared", init="he", init_scale=1.0, dtype="float64",
                 bn_momentum=0.1, norm_eps=1e-5, dropout=0.0, huber_delta=1.0,
                 seed=None):
        self._build(sizes, activation=activation, norm=norm,
                    residual=residual, loss=loss, init=init,
                    init_scale=init_scale, dtype=dtype,
                    bn_momentum=bn_momentum, norm_eps=norm_eps,
                    dropout=dropout, huber_delta=huber_delta, seed=seed)
        cfg = self._config
        self._initialise(cfg["init"], cfg["init_scale"], cfg["seed"])

    @classmethod
    def _empty(cls, config):
        """A model of this configuration with zero buffers and no random
        draws (for :func:`load`, which fills the buffers)."""
        m = cls.__new__(cls)
        m._build(**config)
        return m

    def _build(self, sizes, *, activation, norm, residual, loss, init,
               init_scale, dtype, bn_momentum, norm_eps, seed, dropout=0.0,
               huber_delta=1.0):
        """Validate the arguments, record the config, allocate zero buffers."""
        if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__len__"):
            raise TypeError(f"sizes must be a sequence of ints; got {sizes!r}")
        sizes = list(sizes)
        if len(sizes) < 2:
            raise ValueError(f"sizes needs at least [n_features, n_outputs]; "
                             f"got {sizes!r}")
        for k in sizes:
            if isinstance(k, bool) or not isinstance(k, numbers.Integral) \
                    or k < 1:
                raise ValueError(f"every entry of sizes must be an integer "
                                 f">= 1; got {sizes!r}")
        sizes = [int(k) for k in sizes]
        act_spec = R.activation(activation)
        norm_spec = R.norm(norm)
        loss_spec = R.loss(loss)
        activation, norm, loss = act_spec.name, norm_spec.name, loss_spec.name
        V.choice("init", init, V.INITS)
        dt = V.resolve_dtype(dtype)
        init_scale = V.real("init_scale", init_scale, low=0.0)
        bn_momentum = V.real("bn_momentum", bn_momentum, low=0.0, high=1.0)
        # eps = 0 divides by zero for a constant feature (NaN outputs)
        norm_eps = V.real("norm_eps", norm_eps, low=0.0, low_open=True)
        dropout, rates = V.dropout_rates(dropout, len(sizes) - 2)
        huber_delta = V.real("huber_delta", huber_delta, low=0.0,
                             low_open=True)
        if sizes[-1] < loss_spec.min_outputs or (
                loss_spec.max_outputs is not None
                and sizes[-1] > loss_spec.max_outputs):
            k = loss_spec.min_outputs
            want = (f"exactly {k}" if loss_spec.max_outputs == k
                    else f"at least {k}") + (" output" if k == 1
                                             else " outputs")
            raise ValueError(f"the {loss} loss needs {want}; sizes ends with "
                             f"{sizes[-1]}")
        if seed is not None and (isinstance(seed, bool)
                                 or not isinstance(seed, numbers.Integral)):
            raise TypeError(f"seed must be an integer or None; got {seed!r}")
        if seed is not None:
            seed = int(seed)              # numpy integers -> int (JSON)
            if seed < 0:
                raise ValueError(f"seed must be >= 0 or None; got {seed}")
        # plain Python values only: the config is saved as JSON
        activation, loss, init = str(activation), str(loss), str(init)
        norm = None if norm is None else str(norm)
        self._config = dict(sizes=sizes, activation=activation, norm=norm,
                            residual=bool(residual), loss=loss, init=init,
                            init_scale=init_scale, dtype=dt.name,
                            bn_momentum=bn_momentum, norm_eps=norm_eps,
                            dropout=dropout, huber_delta=huber_delta,
                            seed=seed)
        self._loss_code = loss_spec.code
        self._layout = build_layout(sizes, act_spec.code, norm_spec.code,
                                    residual, rates)
        # the key of the dropout masks: the seed, else a random one
        self._mask_seed = seed % (1 << 63) if seed is not None else int(
            np.random.SeedSequence().generate_state(1, np.uint64)[0] >> 1)
        self.dropout_step = 0
        self._params = np.zeros(self._layout.n_params, dtype=dt)
        self._stats = np.zeros(self._layout.n_stats, dtype=dt)
        self._ws_cache = {}
        self._lock = threading.RLock()
        self._training = True

    # ------------------------------------------------------------------ set-up
    def _initialise(self, init, scale, seed):
        rng = np.random.default_rng(seed)
        sd = self.state_dict()
        for l in range(len(self.sizes) - 1):
            n_in, n_out = self.sizes[l], self.sizes[l + 1]
            var = {"he": 2.0 / n_in, "xavier": 2.0 / (n_in + n_out),
                   "lecun": 1.0 / n_in}[init]
            prefix = f"hidden.{l}" if l < len(self.sizes) - 2 else "out"
            sd[prefix + ".W"][...] = rng.normal(0.0, scale * np.sqrt(var),
                                                (n_in, n_out))
            if prefix + ".gamma" in sd:
                sd[prefix + ".gamma"][...] = 1.0
            if prefix + ".running_var" in sd:
                sd[prefix + ".running_var"][...] = 1.0

    def _net(self, sparse=False):
        """The :class:`~jitmlp.kernels.structs.Net` the kernels take: the
        layout, the buffers and the normalisation settings of this model
        (``sparse``: with the layout table of a sparse-input workspace)."""
        table = sparse_table(self._layout) if sparse else self._layout.table
        return Net(layout=table, segments=self._layout.segments,
                   params=self._params, stats=self._stats,
                   loss=int(self._loss_code),
                   bn_momentum=float(self._config["bn_momentum"]),
                   norm_eps=float(self._config["norm_eps"]),
                   huber_delta=float(self._config.get("huber_delta", 1.0)),
                   mask_seed=int(self._mask_seed))

    def _workspace(self, capacity, y_cols, sparse=False, purpose="train"):
        """Workspace for batches of up to ``capacity`` rows.  Kept for the next
        call when it is at most _WS_CACHE_BYTES, else freed after this use.
        ``sparse``: for sparse X (no x^(0) block; bind X with
        :meth:`_kernel_inputs`).  ``purpose``: one cached workspace per
        caller kind ("train", "rows", "grad", "bn"): the prediction, gradient
        and update_bn loops are Python loops over kernels, free threads run
        between their calls, and a fit in another thread must not write the
        rows they are reading (it did: loss() beside a fit read the fit's
        outputs); calls of one kind serialise on the model's lock."""
        key = (y_cols, bool(sparse), purpose)
        ws = self._ws_cache.get(key)
        if ws is not None and ws[0] >= capacity:
            return ws[1]
        fresh = make_workspace(self._layout, capacity, y_cols, self.dtype,
                               sparse=sparse)
        if sum(a.nbytes for a in fresh if a is not None) <= _WS_CACHE_BYTES:
            self._ws_cache[key] = (capacity, fresh)
        return fresh

    def _kernel_inputs(self, Xc, capacity, y_cols, purpose="train"):
        """(net, workspace, X) for the kernels on the checked ``Xc``: for a
        sparse X the sparse layout, a workspace reading its CSR rows and the
        (n, 0) stand-in X that ``gather`` takes; else the dense ones."""
        if isinstance(Xc, CSRRows):
            ws = self._workspace(capacity, y_cols, sparse=True,
                                 purpose=purpose)
            return self._net(sparse=True), Xc.bind(ws), Xc.kernel_X()
        return self._net(), self._workspace(capacity, y_cols,
                                            purpose=purpose), Xc

    @property
    def n_outputs(self):
        """int: width of the output layer (``sizes[-1]``).

        Examples
        --------
        >>> import jitmlp as jm
        >>> jm.MLP([4, 16, 3]).n_outputs
        3
        """
        return self.sizes[-1]

    @property
    def n_features(self):
        """int: number of input features (``sizes[0]``).

        Examples
        --------
        >>> import jitmlp as jm
        >>> jm.MLP([4, 16, 3]).n_features
        4
        """
        return self.sizes[0]

    @property
    def n_params(self):
        """int: number of trainable parameters (``params.size``).

        Examples
        --------
        >>> import jitmlp as jm
        >>> jm.MLP([4, 16, 3]).n_params            # 4*16 + 16 + 16*3 + 3
        131
        >>> jm.MLP([4, 16, 3], norm="batch").n_params   # no b, gamma and beta
        147
        """
        return self.params.size

    @property
    def y_cols(self):
        """int: columns of the target array the kernels receive (``n_outputs``
        for targets with one column per output, 1 for class indices and
        -1/+1 labels).

        Examples
        --------
        >>> import jitmlp as jm
        >>> jm.MLP([4, 3]).y_cols, jm.MLP([4, 3], loss="cross_entropy").y_cols
        (3, 1)
        """
        return self._loss.y_cols(self.n_outputs)

    # The architecture is fixed at construction: the kernels trust the layout
    # table and the buffer sizes, so these are read-only.
    dtype = property(lambda self: self._params.dtype, doc="""numpy dtype of
        every buffer and output.

        Examples
        --------
        >>> import numpy as np, jitmlp as jm
        >>> m = jm.MLP([2, 1], dtype="float32")
        >>> m.dtype, m.forward(np.ones((1, 2))).dtype
        (dtype('float32'), dtype('float32'))
        """)
    sizes = property(lambda self: tuple(self._config["sizes"]),
                     doc="""tuple of int: layer widths [d, K1, ..., KL, out].

        Examples
        --------
        >>> import jitmlp as jm
        >>> jm.MLP([4, 16, 16, 3]).sizes
        (4, 16, 16, 3)
        """)
    activation = property(lambda self: self._config["activation"],
                          doc="""str: phi of the hidden layers (registry name;
        an alias given to the constructor reads as the name).

        Examples
        --------
        >>> import jitmlp as jm
        >>> jm.MLP([2, 4, 1], activation="logistic").activation
        'sigmoid'
        """)
    norm = property(lambda self: self._config["norm"],
                    doc="""None, 'batch' or 'layer'.

        Examples
        --------
        >>> import jitmlp as jm
        >>> jm.MLP([2, 4, 1], norm="layer").norm, jm.MLP([2, 1]).norm
        ('layer', None)
        """)
    residual = property(lambda self: self._config["residual"],
                        doc="""bool: skip connections on equal-width layers.

        Examples
        --------
        >>> import jitmlp as jm
        >>> jm.MLP([2, 8, 8, 1], residual=True).residual
        True
        """)
    loss_name = property(lambda self: self._config["loss"],
                         doc="""str: the loss (registry name).

        Examples
        --------
        >>> import jitmlp as jm
        >>> jm.MLP([2, 3], loss="cross_entropy").loss_name
        'cross_entropy'
        """)
    bn_momentum = property(lambda self: self._config["bn_momentum"],
                           doc="""float: m of the running statistics' EMA
        ``r = (1-m) r + m s``.

        Examples
        --------
        >>> import jitmlp as jm
        >>> jm.MLP([2, 4, 1], norm="batch", bn_momentum=0.01).bn_momentum
        0.01
        """)
    norm_eps = property(lambda self: self._config["norm_eps"],
                        doc="""float > 0: eps in sqrt(var + eps).

        Examples
        --------
        >>> import jitmlp as jm
        >>> jm.MLP([2, 4, 1], norm="layer").norm_eps
        1e-05
        """)
    dropout = property(lambda self: self._config["dropout"],
                       doc="""the dropout rate(s), as given (a float, or one
        per hidden layer).

        Examples
        --------
        >>> import jitmlp as jm
        >>> jm.MLP([2, 8, 8, 1], dropout=[0.1, 0.2]).dropout
        [0.1, 0.2]
        """)
    huber_delta = property(lambda self: self._config["huber_delta"],
                           doc="""float: delta of the huber loss (in the
        units of the targets).

        Examples
        --------
        >>> import jitmlp as jm
        >>> jm.MLP([2, 1], loss="huber", huber_delta=0.5).huber_delta
        0.5
        """)
    @property
    def layout(self):
        """The :class:`~jitmlp._layout.Layout` of this architecture: the
        integer layout table the kernels read (``layout.table``, read-only),
        the parameter segments and the offsets of every named tensor.

        Examples
        --------
        >>> import jitmlp as jm
        >>> lay = jm.MLP([3, 4, 2], seed=0).layout
        >>> lay.n_params, lay.table.shape[0]      # one table row per layer
        (26, 2)
        >>> [(name, off, shape) for name, buf, off, shape in lay.entries]
        [('hidden.0.W', 0, (3, 4)), ('hidden.0.b', 12, (4,)), ('out.W', 16, (4, 2)), ('out.b', 24, (2,))]
        """
        return self._layout

    @property
    def training(self):
        """bool: True in training mode (BatchNorm uses batch statistics,
        dropout is on); assign a bool, or use :meth:`train` / :meth:`eval`.

        Raises
        ------
        TypeError
            Assigning anything but a bool.

        Examples
        --------
        >>> import jitmlp as jm
        >>> m = jm.MLP([2, 1])
        >>> m.training                 # as in PyTorch
        True
        >>> m.training = False; m.training
        False
        """
        return self._training

    @training.setter
    def training(self, mode):
        # a bool only: another type would compile another kernel set
        if not isinstance(mode, (bool, np.bool_)):
            raise TypeError(f"training must be a bool; got {mode!r}")
        self._training = bool(mode)

    @property
    def _loss(self):
        """The registry entry of the loss (looked up: entries hold functions,
        and a model must pickle)."""
        return R.LOSSES[self._config["loss"]]

    @property
    def params(self):
        """The one flat 1-D buffer of all trainable parameters (writable in
        place).  Assigning an array copies its values in; its shape must be
        ``(n_params,)``, its dtype real, its values finite.

        Raises
        ------
        ValueError, TypeError
            Assigning an array of another shape, not real, or not finite.

        Examples
        --------
        >>> import numpy as np, jitmlp as jm
        >>> m = jm.MLP([2, 1], seed=0)
        >>> m.params = np.zeros(m.n_params)
        >>> m.forward(np.ones((1, 2))).tolist()
        [[0.0]]
        >>> m.state_dict()["out.W"][:] = 1.0      # views write through
        >>> m.params.tolist()
        [1.0, 1.0, 0.0]
        """
        return self._params

    @params.setter
    def params(self, value):
        self._params[...] = self._checked_buffer("params", value,
                                                 self._params.shape)

    @property
    def stats(self):
        """The BatchNorm running statistics, flat (empty without BatchNorm).
        Assigning copies values in, as for :attr:`params`; running_var must
        stay > 0.

        Raises
        ------
        ValueError, TypeError
            Assigning an array of another shape, not real, not finite, or
            with a running variance <= 0.

        Examples
        --------
        >>> import jitmlp as jm
        >>> m = jm.MLP([2, 3, 1], norm="batch")
        >>> m.stats.tolist()        # running_mean (3), then running_var (3)
        [0.0, 0.0, 0.0, 1.0, 1.0, 1.0]
        >>> jm.MLP([2, 3, 1]).stats.size
        0
        """
        return self._stats

    @stats.setter
    def stats(self, value):
        a = self._checked_buffer("stats", value, self._stats.shape)
        sd = {n: (off, shape) for n, buf, off, shape in self._layout.entries
              if buf == "stats"}
        for name, (off, shape) in sd.items():
            if name.endswith("running_var") and \
                    (a[off:off + shape[0]] <= 0).any():
                raise ValueError(f"stats: {name} must be > 0")
        self._stats[...] = a

    def _checked_buffer(self, name, value, shape):
        try:
            a = np.asarray(value)
        except Exception:
            a = None
        if a is None or a.dtype.kind not in "iuf":
            raise TypeError(f"{name} must be a real numeric array; got "
                            f"{getattr(a, 'dtype', type(value).__name__)}")
        if a.shape != shape:
            raise ValueError(f"{name} must have shape {shape}; got {a.shape}"
                             f" (the architecture is fixed; build a new MLP "
                             f"for another one)")
        a = a.astype(self.dtype, copy=False)
        if not np.isfinite(a).all():
            raise ValueError(f"{name} contains NaN or infinite values (in "
                             f"{self.dtype})")
        return a

    def get_config(self):
        """The constructor arguments (JSON-serialisable).

        Returns
        -------
        dict
            Keyword arguments of :class:`MLP` (``sizes`` first): ``MLP(**cfg)``
            builds the same architecture (with fresh weights).

        Examples
        --------
        >>> import jitmlp as jm
        >>> cfg = jm.MLP([2, 8, 3], loss="cross_entropy", seed=0).get_config()
        >>> cfg["sizes"], cfg["loss"], cfg["dtype"]
        ([2, 8, 3], 'cross_entropy', 'float64')
        >>> jm.MLP(**cfg)
        MLP([2, 8, 3], activation='relu', norm=None, residual=False, loss='cross_entropy', dtype='float64')
        """
        return dict(self._config)

    def __repr__(self):
        c = self._config
        extra = "".join(f", {k}={c[k]!r}" for k in
                        ("activation", "norm", "residual", "loss", "dtype")
                        if k in c)
        if c.get("dropout"):
            extra += f", dropout={c['dropout']!r}"
        return f"MLP({list(self.sizes)!r}{extra})"

    # ------------------------------------------------------------------- modes
    def train(self, mode=True):
        """Switch to training mode (BatchNorm uses batch statistics).

        Parameters
        ----------
        mode : bool, default True
            ``train(False)`` is :meth:`eval`.

        Returns
        -------
        MLP
            ``self``.

        Raises
        ------
        TypeError
            ``mode`` is not a bool.

        Examples
        --------
        >>> import jitmlp as jm
        >>> m = jm.MLP([2, 4, 1], norm="batch").eval()
        >>> m.train().training
        True
        """
        self.training = mode
        return self

    def eval(self):
        """Switch to evaluation mode (BatchNorm uses the running statistics,
        no dropout).

        Returns
        -------
        MLP
            ``self``.

        Examples
        --------
        >>> import numpy as np, jitmlp as jm
        >>> m = jm.MLP([2, 4, 1], norm="batch", seed=0)
        >>> m.eval().training
        False
        >>> m.forward(np.ones((1, 2))).shape    # one row: running statistics
        (1, 1)
        """
        self.training = False
        return self

    def _batch_norm_in_training(self):
        return self.training and self.norm == "batch"

    # -------------------------------------------------------------- state dict
    def state_dict(self):
        """Dict name -> array; trainable entries are views into ``params``,
        running statistics views into ``stats``.

        Returns
        -------
        dict of str -> ndarray
            ``hidden.{i}.W`` (n_in, n_out), ``hidden.{i}.b``, ``.gamma``,
            ``.beta``, ``.running_mean``, ``.running_var``, ``out.W``,
            ``out.b`` (those that exist); writing them changes the model.

        Examples
        --------
        >>> import jitmlp as jm
        >>> sd = jm.MLP([3, 4, 1], norm="batch", seed=0).state_dict()
        >>> sorted(sd)
        ['hidden.0.W', 'hidden.0.beta', 'hidden.0.gamma', 'hidden.0.running_mean', 'hidden.0.running_var', 'out.W', 'out.b']
        """
        out = {}
        for name, buf, off, shape in self._layout.entries:
            b = self.params if buf == "params" else self.stats
            out[name] = b[off:off + int(np.prod(shape))].reshape(shape)
        return out

    def param_views(self, flat):
        """Named views of a flat array in the layout of ``params``.

        Parameters
        ----------
        flat : ndarray, shape (n_params,)
            A gradient, an optimizer moment, a mask: any 1-D array laid out
            as ``params``.

        Returns
        -------
        dict of str -> ndarray
            Trainable entries only (``hidden.{i}.W`` (n_in, n_out),
            ``.b``, ``.gamma``, ``.beta``, ``out.W``, ``out.b``), views.

        Raises
        ------
        ValueError
            ``flat`` does not have shape ``(n_params,)``.

        Examples
        --------
        >>> import jitmlp as jm, numpy as np
        >>> m = jm.MLP([3, 4, 1], seed=0)
        >>> loss, g = m.loss_and_grad(np.ones((2, 3)), np.zeros(2))
        >>> m.param_views(g)["hidden.0.W"].shape
        (3, 4)
        """
        flat = np.asarray(flat)
        if flat.shape != self.params.shape:
            raise ValueError(f"expected an array of shape {self.params.shape}; "
                             f"got {flat.shape}")
        return {name: flat[off:off + int(np.prod(shape))].reshape(shape)
                for name, buf, off, shape in self._layout.entries
                if buf == "params"}

    def load_state_dict(self, state):
        """Copy the values of a :meth:`state_dict` in (PyTorch's semantics).

        Parameters
        ----------
        state : dict of str -> array_like
            Every entry of :meth:`state_dict`, each of its shape; values are
            cast to the model's dtype.  Entries may be views of this model.

        Raises
        ------
        ValueError
            A missing, unexpected or mis-shaped entry, or NaN/inf values
            (named); nothing is changed then.
        TypeError
            ``state`` is not a dict or an entry is not numeric.

        Examples
        --------
        >>> import numpy as np, jitmlp as jm
        >>> a, b = jm.MLP([3, 4, 1], seed=0), jm.MLP([3, 4, 1], seed=1)
        >>> b.load_state_dict(a.state_dict())
        >>> bool(np.array_equal(a.params, b.params))
        True
        >>> b.load_state_dict({"out.W": np.zeros((4, 1))})
        Traceback (most recent call last):
            ...
        ValueError: load_state_dict: missing entries ['hidden.0.W', 'hidden.0.b', 'out.b']
        """
        if not isinstance(state, dict):
            raise TypeError(f"state must be a dict; got {type(state).__name__}")
        own = {name: shape for name, _, _, shape in self._layout.entries}
        missing = sorted(set(own) - set(state))
        unexpected = sorted(set(state) - set(own))
        if missing:
            raise ValueError(f"load_state_dict: missing entries {missing}")
        if unexpected:
            raise ValueError(f"load_state_dict: unexpected entries {unexpected}")
        staged = {}
        for name, shape in own.items():
            arr = state[name]
            try:
                a = np.asarray(arr)
            except Exception:
                a = None
            if a is None or a.dtype.kind not in "biuf":
                raise TypeError(f"load_state_dict: entry {name!r} is not a "
                                f"numeric array")
            if a.shape != tuple(shape):
                raise ValueError(f"load_state_dict: entry {name!r} has shape "
                                 f"{a.shape}, expected {tuple(shape)}")
            # a copy: an entry may be a view of this model's own buffers
            # (swapping two layers must not read an already written one)
            a = np.array(a, dtype=self.dtype, copy=True)
            if not np.isfinite(a).all():
                raise ValueError(f"load_state_dict: entry {name!r} contains "
                                 f"NaN or infinite values")
            staged[name] = a
        sd = self.state_dict()
        for name, a in staged.items():
            sd[name][...] = a

    # --------------------------------------------------------------- inference
    def _check_X(self, X, name="X"):
        return V.check_X(X, self.n_features, self.dtype, name=name)

    def _check_y(self, y, n, name="y"):
        return V.check_y(y, n, self._loss, self.n_outputs, self.dtype,
                         name=name)

    def _check_yw(self, y, n, sample_weight, name="y"):
        """Targets for the kernels, with the weights as a trailing column
        when ``sample_weight`` is given (see kernels/losses.py)."""
        Yc = self._check_y(y, n, name=name)
        if sample_weight is None:
            return Yc
        w = V.check_sample_weight(sample_weight, n, self.dtype)
        return V.with_weight_column(Yc, w, self.dtype)

    def _finite_output(self, what, a):
        """Raise instead of returning NaN or inf from finite inputs."""
        if not np.isfinite(a).all():
            bad = int(np.count_nonzero(~np.isfinite(a)))
            raise NonFiniteOutputError(
                f"{what}: the network's output has {bad} NaN or infinite "
                f"value(s) for finite inputs (overflow in {self.dtype}); "
                f"scale the inputs, use dtype='float64', or check the "
                f"parameters")
        return a

    @staticmethod
    def _gather_rows(Xk, Y, start, B, ws):
        """Rows ``start .. start+B-1`` of X and Y into the workspace: what
        the ``gather`` kernel does for consecutive rows, as numpy copies, so
        that the Python loops over kernels (prediction, loss_and_grad,
        update_bn) compile no kernel of their own for it.  A sparse X (0
        columns here) gives its row numbers to ``sp_rows``."""
        d = Xk.shape[1]
        if d:
            ws.x[:B * d].reshape(B, d)[...] = Xk[start:start + B]
        if ws.sp_rows is not None:
            ws.sp_rows[:B] = np.arange(start, start + B)
        yc = Y.shape[1]
        if yc:
            ws.y[:B * yc].reshape(B, yc)[...] = Y[start:start + B]

    def _run_rows(self, Xc, Yc, loss_code, want_out):
        """Forward all rows in chunks (one chunk for BatchNorm in training
        mode); returns (h or an empty array, the summed loss).

        The loop is Python over the training kernels themselves
        (``forward_batch``, ``loss_and_delta``, called with the argument
        types the training loop uses): after a fit nothing compiles for
        prediction, and before one only the forward pass does.  Chunks are
        ``_PREDICT_CHUNK`` rows or more for narrow networks (about
        ``_PREDICT_UNITS`` activations a chunk), so that the ~30 us of a
        kernel call stay small beside a chunk's work."""
        n = Xc.shape[0]
        if self._batch_norm_in_training():
            if n < 2:
                raise ValueError(V.BN_TWO_ROWS + f"; got {n} sample")
            chunk = n
        else:
            chunk = min(n, max(_PREDICT_CHUNK,
                               _PREDICT_UNITS // sum(self.sizes)))
        ycols = Yc.shape[1]
        k = self.n_outputs
        out = np.empty((n, k) if want_out else (0, 1), self.dtype)
        _compile.notice(forward_batch, "prediction", self.dtype)
        training = bool(self.training)
        step = int(self.dropout_step)
        total = 0.0
        with self._lock:   # the cached workspace is shared by the threads
            net, ws, Xk = self._kernel_inputs(Xc, chunk, ycols, "rows")
            h_off = int(net.layout[-1, C.X_OUT])
            for start in range(0, n, chunk):
                B = min(chunk, n - start)
                self._gather_rows(Xk, Yc, start, B, ws)
                forward_batch(net, ws, B, training, False, False, step,
                              start)
                h = ws.x[B * h_off:B * (h_off + k)].reshape(B, k)
                if want_out:
                    out[start:start + B] = h
                if loss_code >= 0:
                    y = ws.y[:B * ycols].reshape(B, ycols)
                    total += loss_and_delta(
                        h, y, loss_code, ws.delta[:B * k].reshape(B, k),
                        1.0, False, net.huber_delta)
        return out, total

    def forward(self, X):
        """Raw outputs h, shape (n, out), in the current mode.

        Running statistics never move here; only training steps move them.

        Parameters
        ----------
        X : array_like or scipy.sparse matrix of shape (n, d)
            Inputs; converted to the model's dtype.  A scipy.sparse X (CSR
            used in place when its arrays already have the kernels' types;
            CSC and other formats converted to CSR once, O(nnz)) stays
            sparse: the first layer's product runs on the stored entries of
            each row, and no dense (n, d) or (batch, d) array is formed.
            The same holds for every method that takes X.

        Returns
        -------
        h : ndarray of shape (n, out), the model's dtype

        Raises
        ------
        ValueError
            X has the wrong shape or non-finite values (a sparse X: also a
            malformed CSR structure); BatchNorm in training mode with a
            single row.
        TypeError
            X is not numeric (or a sparse X has non-integer indices).
        NonFiniteOutputError
            The outputs overflow for finite inputs.

        Examples
        --------
        >>> import numpy as np, jitmlp as jm
        >>> jm.MLP([3, 8, 2], seed=0).eval().forward(np.ones((4, 3))).shape
        (4, 2)
        >>> import scipy.sparse as sp
        >>> S = sp.eye(4, 3, format="csr")
        >>> jm.MLP([3, 8, 2], seed=0).eval().forward(S).shape
        (4, 2)
        """
        Xc = self._check_X(X)
        h, _ = self._run_rows(Xc, np.empty((Xc.shape[0], 0), self.dtype), -1,
                              True)
        return self._finite_output("forward", h)

    def predict(self, X):
        """Predictions from :meth:`forward` in the current mode, as the loss's
        registry entry (:mod:`jitmlp.registry`) defines them.

        Parameters
        ----------
        X : array_like or scipy.sparse matrix of shape (n, d)

        Returns
        -------
        ndarray
            squared, huber: h, shape (n,) when out == 1, else (n, out);
            poisson: the rate exp(h), same shapes; logistic: labels in
            {-1, +1}, int64 (n,); cross_entropy: class indices (argmax of h),
            int64 (n,); binary_cross_entropy: ``h > 0`` as int64 (n, out).

        Raises
        ------
        ValueError, NonFiniteOutputError
            As :meth:`forward`.

        Examples
        --------
        >>> import numpy as np, jitmlp as jm
        >>> X = np.array([[0.0, 1.0], [1.0, 0.0]])
        >>> jm.MLP([2, 4, 3], loss="cross_entropy", seed=0).eval().predict(X)
        array([2, 2])
        >>> jm.MLP([2, 4, 1], seed=0).eval().predict(X).shape  # squared, out 1
        (2,)
        """
        out = self._loss.predict(self.forward(X))
        if out.dtype.kind == "f":    # poisson's exp(h) may overflow
            self._finite_output("predict", out)
        return out

    def predict_proba(self, X):
        """Class probabilities in the current mode.

        Parameters
        ----------
        X : array_like or scipy.sparse matrix of shape (n, d)

        Returns
        -------
        ndarray, the model's dtype
            cross_entropy: softmax of h, shape (n, out); logistic: shape
            (n, 2), columns P(y=-1), P(y=+1); binary_cross_entropy: the
            sigmoid of h, (n, out), one probability per label.

        Raises
        ------
        ValueError
            The model's loss has no probabilities (squared).

        Examples
        --------
        >>> import numpy as np, jitmlp as jm
        >>> m = jm.MLP([2, 4, 3], loss="cross_entropy", seed=0).eval()
        >>> p = m.predict_proba(np.ones((2, 2)))
        >>> p.shape, np.allclose(p.sum(axis=1), 1.0)
        ((2, 3), True)
        """
        if self._loss.proba is None:
            raise ValueError(f"predict_proba needs a classification loss; "
                             f"this model uses the {self._loss.name} loss")
        return self._finite_output("predict_proba",
                                   self._loss.proba(self.forward(X)))

    def loss(self, X, y, sample_weight=None):
        """Mean loss over the rows of X in the current mode.

        Parameters
        ----------
        X : array_like or scipy.sparse matrix of shape (n, d)
        y : array_like
            squared, huber: (n,) or (n, out); poisson: the same, >= 0;
            logistic: (n,) in {-1, +1}; cross_entropy: (n,) integer classes
            in [0, out); binary_cross_entropy: (n, out) in {0, 1} ((n,)
            when out == 1).
        sample_weight : array_like of shape (n,), optional
            Finite, >= 0, not all zero: the loss is then
            ``sum_i w_i l_i / sum_i w_i``.

        Returns
        -------
        float

        Raises
        ------
        ValueError
            Invalid ``X``, ``y`` or ``sample_weight`` (named); BatchNorm in
            training mode with a single row.
        NonFiniteOutputError
            The loss overflows for finite inputs.

        Examples
        --------
        >>> import numpy as np, jitmlp as jm
        >>> m = jm.MLP([2, 1], seed=0)
        >>> m.params = np.zeros(m.n_params)            # h = 0
        >>> m.loss(np.ones((2, 2)), np.array([1.0, 3.0]))   # (0.5 + 4.5) / 2
        2.5
        >>> m.loss(np.ones((2, 2)), np.array([1.0, 3.0]), sample_weight=[1, 0])
        0.5
        """
        Xc = self._check_X(X)
        Yc = self._check_yw(y, Xc.shape[0], sample_weight)
        _, total = self._run_rows(Xc, Yc, self._loss_code, False)
        den = Xc.shape[0] if sample_weight is None else \
            float(Yc[:, -1].sum(dtype=np.float64))
        return float(self._finite_output("loss", np.array(total / den)))

    def loss_and_grad(self, X, y, sample_weight=None):
        """(mean loss, gradient) in training mode over all rows as one batch.

        The gradient is a new 1-D array in the layout of ``params``; neither
        the parameters nor the running statistics change.

        Parameters
        ----------
        X : array_like or scipy.sparse matrix of shape (n, d)
        y : array_like
            As for :meth:`loss`.
        sample_weight : array_like of shape (n,), optional
            As for :meth:`loss`: the loss and gradient of
            ``sum_i w_i l_i / sum_i w_i``; rows of weight 0 have no effect
            (except on BatchNorm's batch statistics, which use every row).

        Dropout is applied (training mode) with the masks of
        :attr:`dropout_step` and the row index in ``X``: a fixed mask, so
        the gradient is that of a deterministic function of the parameters.

        Returns
        -------
        loss : float
        grad : ndarray of shape (n_params,), the model's dtype
            Use :meth:`param_views` to see it per tensor.

        Raises
        ------
        ValueError
            Invalid ``X``, ``y`` or ``sample_weight`` (named); BatchNorm with
            a single row.
        NonFiniteOutputError
            The loss or the gradient overflows for finite inputs.

        Examples
        --------
        A finite-difference check of one weight:

        >>> import numpy as np, jitmlp as jm
        >>> m = jm.MLP([3, 4, 1], activation="tanh", seed=0)
        >>> X, y = np.random.default_rng(0).standard_normal((5, 3)), np.ones(5)
        >>> loss, grad = m.loss_and_grad(X, y)
        >>> m.params[0] += 1e-6
        >>> bool(np.isclose((m.loss(X, y) - loss) / 1e-6, grad[0], atol=1e-5))
        True
        """
        Xc = self._check_X(X)
        Yc = self._check_yw(y, Xc.shape[0], sample_weight)
        n = Xc.shape[0]
        if self.norm == "batch" and n < 2:
            raise ValueError(V.BN_TWO_ROWS + f"; got {n} sample")
        # BatchNorm's batch statistics need all rows in one block; otherwise
        # the gradient is summed over blocks, so that the workspace stays
        # O(block) whatever n is
        block = n if self.norm == "batch" else min(n, _GRAD_CHUNK)
        grad = np.zeros_like(self._params)
        part = np.empty_like(self._params) if block < n else grad
        step = int(self.dropout_step)
        total = 0.0
        if sample_weight is None:
            den, wsum = n, None
        else:
            wsum = Yc[:, -1].astype(np.float64)
            den = float(wsum.sum())
        _compile.notice(batch_loss_grad, "gradient", self.dtype)
        with self._lock:   # the cached workspace is shared by the threads
            net, ws, Xk = self._kernel_inputs(Xc, block, Yc.shape[1],
                                              "grad")
            for start in range(0, n, block):
                B = min(block, n - start)
                # this block's share of the denominator (rows, or weights)
                bden = B if wsum is None else float(
                    wsum[start:start + B].sum())
                if bden == 0.0:
                    continue      # all its rows have weight 0: no share
                self._gather_rows(Xk, Yc, start, B, ws)
                total += batch_loss_grad(net, part, ws, B, Yc.shape[1],
                                         False, 1.0 / bden, step, start)
                if part is not grad:  # the block's mean gradient, weighted
                    grad += part * (bden / den)
        loss = float(self._finite_output("loss_and_grad",
                                         np.array(total / den)))
        return loss, self._finite_output("loss_and_grad (gradient)", grad)

    def update_bn(self, X, batch_size=256):
        """Recompute the BatchNorm running statistics from one pass over X.

        PyTorch's ``torch.optim.swa_utils.update_bn``: the running
        statistics are reset (mean 0, variance 1), then the batches
        ``X[0:batch_size], X[batch_size:2*batch_size], ...`` (in order) are
        run forward in training mode, and every layer's running mean and
        variance become the plain (cumulative) average over the batches of
        the batch means and of the unbiased batch variances
        (``B/(B-1)`` times the biased ones): momentum ``1/k`` at the k-th
        batch.  Each layer sees the outputs of the layers below in training
        mode (batch statistics, dropout with the masks of
        :attr:`dropout_step`).  The parameters and the mode do not change.
        Without BatchNorm this does nothing.

        Use it after the parameters changed without the running statistics
        following (the EMA lags behind fast training, weight averaging,
        :meth:`load_state_dict` of parameters only).

        Parameters
        ----------
        X : array_like or scipy.sparse matrix of shape (n, d)
        batch_size : int >= 2

        Returns
        -------
        self

        Raises
        ------
        ValueError
            X is invalid, or a batch would have a single row (the unbiased
            variance of one sample is undefined); nothing changes.
        NonFiniteOutputError
            The running statistics would overflow; nothing changes.

        Examples
        --------
        >>> import numpy as np, jitmlp as jm
        >>> m = jm.MLP([2, 3, 1], norm="batch", seed=0)
        >>> X = np.random.default_rng(0).normal(5.0, 1.0, (64, 2))
        >>> m.update_bn(X, batch_size=32).training       # mode unchanged
        True
        >>> mean = m.state_dict()["hidden.0.running_mean"]
        >>> bool(np.allclose(mean, (X @ m.state_dict()["hidden.0.W"]).mean(0)))
        True
        """
        Xc = self._check_X(X)
        batch_size = V.positive_int("batch_size", batch_size)
        if self.norm != "batch":
            return self
        n = Xc.shape[0]
        if n < 2 or batch_size < 2 or (n > batch_size
                                       and n % batch_size == 1):
            raise ValueError(V.BN_TWO_ROWS + f"; update_bn with batch_size="
                             f"{batch_size} and {n} samples leaves a batch of "
                             f"1")
        B = min(batch_size, n)
        Y = np.empty((n, 0), self.dtype)
        stats = np.zeros_like(self._stats)
        for name, _, off, shape in self._layout.entries:
            if name.endswith("running_var"):
                stats[off:off + shape[0]] = 1.0
        step = int(self.dropout_step)
        with self._lock:   # the cached workspace is shared by the threads
            net, ws, Xk = self._kernel_inputs(Xc, B, 0, "bn")
            net = net._replace(stats=stats)
            for k, start in enumerate(range(0, n, B)):
                rows = min(B, n - start)
                self._gather_rows(Xk, Y, start, rows, ws)
                forward_batch(net._replace(bn_momentum=1.0 / (k + 1)), ws,
                              rows, True, False, True, step, start)
        if not np.isfinite(stats).all():
            raise NonFiniteOutputError(
                "update_bn: the running statistics overflow (in "
                f"{self.dtype}); nothing was changed")
        self._stats[...] = stats
        return self

    def preactivations(self, X):
        """Diagnostics: the pre-activations of every layer, in plain numpy.

        Parameters
        ----------
        X : array_like or scipy.sparse matrix of shape (n, d)

        Returns
        -------
        list of ndarray
            z^(1..L) of the hidden layers (before normalisation), shapes
            (n, K_l), then h (n, out), in the current mode; for plots and
            checks, not for speed.

        Raises
        ------
        ValueError
            Invalid ``X``; BatchNorm in training mode with one row.

        Examples
        --------
        >>> import numpy as np, jitmlp as jm
        >>> m = jm.MLP([2, 8, 4, 3], seed=0).eval()
        >>> [z.shape for z in m.preactivations(np.ones((5, 2)))]
        [(5, 8), (5, 4), (5, 3)]
        """
        Xc = self._check_X(X)
        if self._batch_norm_in_training() and Xc.shape[0] < 2:
            raise ValueError(V.BN_TWO_ROWS + f"; got {Xc.shape[0]} sample")
        sd = self.state_dict()
        x = Xc.tocsr() if isinstance(Xc, CSRRows) else Xc
        out = []
        L = len(self.sizes) - 2
        act = R.activation(self.activation).phi
        for l in range(L):
            p = f"hidden.{l}"
            z = x @ sd[p + ".W"]
            if p + ".b" in sd:
                z = z + sd[p + ".b"]
            out.append(z)
            a = z
            if self.norm == "batch":
                if self.training:
                    mu, var = z.mean(0), z.var(0)
                else:
                    mu, var = sd[p + ".running_mean"], sd[p + ".running_var"]
                a = sd[p + ".gamma"] * (z - mu) / np.sqrt(var + self.norm_eps) \
                    + sd[p + ".beta"]
            elif self.norm == "layer":
                mu, var = z.mean(1, keepdims=True), z.var(1, keepdims=True)
                a = sd[p + ".gamma"] * (z - mu) / np.sqrt(var + self.norm_eps) \
                    + sd[p + ".beta"]
            y = act(a)
            if self.residual and y.shape == x.shape:
                y = y + (x.toarray() if hasattr(x, "toarray") else x)
            x = y
        out.append(x @ sd["out.W"] + sd["out.b"])
        return [o.astype(self.dtype, copy=False) for o in out]

    def score(self, X, y):
        """Accuracy (classification losses) or R^2 (squared loss).

        Parameters
        ----------
        X : array_like or scipy.sparse matrix of shape (n, d)
        y : array_like
            Targets as for :meth:`loss`.

        Returns
        -------
        float
            Mean accuracy, or R^2 summed over outputs (0.0 for constant y).

        Raises
        ------
        ValueError
            Invalid input, or R^2 of a single sample.
        NonFiniteOutputError
            The network overflows on ``X``.

        Examples
        --------
        >>> import numpy as np, jitmlp as jm
        >>> X = np.array([[0.0], [1.0], [2.0], [3.0]])
        >>> m = jm.MLP([1, 1], seed=0).eval()
        >>> m.params = [2.0, 1.0]                 # h = 2 x + 1
        >>> m.score(X, 2 * X[:, 0] + 1)          # R^2 of exact predictions
        1.0
        >>> c = jm.MLP([1, 2], loss="cross_entropy").eval()
        >>> c.params = [1.0, -1.0, 0.0, 0.0]      # class 0 for x > 0
        >>> c.score(X[1:], [0, 0, 0])            # accuracy
        1.0
        """
        yp = self.predict(X)
        Yc = self._check_y(y, yp.shape[0])
        if self._loss.task == "multilabel":   # subset accuracy (sklearn's)
            return float(np.mean((yp == Yc).all(axis=1)))
        if not self._loss.classify:
            if yp.shape[0] < 2:
                raise ValueError("score (R^2) needs at least 2 samples; got 1")
            Y = Yc.astype(np.float64)
            P = np.asarray(yp, np.float64).reshape(Y.shape)
            ss_res = ((Y - P) ** 2).sum()
            ss_tot = ((Y - Y.mean(axis=0)) ** 2).sum()
            r2 = float(1.0 - ss_res / ss_tot) if ss_tot > 0 else 0.0
            return float(self._finite_output("score (R^2)", np.array(r2)))
        return float(np.mean(yp == Yc[:, 0]))

    # pickling: workspaces are rebuilt on demand, buffers come back writable
    # (an unpickled read-only buffer, e.g. a memmap, could not be trained)
    def __getstate__(self):
        state = dict(self.__dict__)
        state["_ws_cache"] = {}
        state.pop("_lock", None)
        return state

    def __setstate__(self, state):
        state = dict(state)
        for old in ("params", "stats", "training"):   # pickles of jitmlp 0.1
            if old in state:
                state["_" + old] = state.pop(old)
        state["_training"] = bool(state.get("_training", False))
        for old in ("dtype", "sizes", "activation", "norm", "residual",
                    "loss_name", "bn_momentum", "norm_eps", "layout"):
            state.pop(old, None)
        # pickles from before dropout and the huber loss
        state["_config"] = {"dropout": 0.0, "huber_delta": 1.0,
                            **state["_config"]}
        state.setdefault("_mask_seed", (state["_config"].get("seed") or 0)
                         % (1 << 63))
        state.setdefault("dropout_step", 0)
        self.__dict__.update(state)
        self._lock = threading.RLock()
        if self._layout.table.shape[1] != C.NCOL:   # an older layout table
            cfg = self._config
            self._layout = build_layout(
                cfg["sizes"], R.activation(cfg["activation"]).code,
                R.norm(cfg["norm"]).code, cfg["residual"],
                V.dropout_rates(cfg["dropout"], len(cfg["sizes"]) - 2)[1])
        lay = self._layout
        for name, size in (("_params", lay.n_params), ("_stats", lay.n_stats)):
            a = np.array(state[name], copy=True)
            if a.ndim != 1 or a.shape[0] != size or a.dtype.kind != "f":
                raise ValueError(f"unpickled model: {name[1:]} has shape "
                                 f"{a.shape} and dtype {a.dtype}; the "
                                 f"architecture needs ({size},) floats")
            setattr(self, name, a)
        self._ws_cache = {}

    # ------------------------------------------------------------ persistence
    def save(self, path):
        """Write the model (architecture, parameters, running statistics,
        dtype and mode) to a ``.npz`` file that :func:`load` reads back
        exactly.

        The write is atomic: the data go to a temporary file in the same
        folder, which is flushed, fsynced and then renamed onto the
        destination (:func:`os.replace`).  An old file at ``path`` stays
        whole until the new one is complete, whatever interrupts the save
        (an exception, Ctrl-C, the process being killed); an interrupted
        save removes its temporary file, except after SIGKILL or power loss,
        which can leave a stale ``.<name>.<random>.tmp`` beside it.

        Parameters
        ----------
        path : str or os.PathLike
            Destination.  Naming rule: ``path`` is written as given when it
            ends with ``.npz``, else ``path + ".npz"`` is written (so
            ``save("m")`` writes ``m.npz``, and ``load("m")`` reads it).

        Returns
        -------
        str
            The path of the file written.

        Raises
        ------
        ValueError
            The parameters or running statistics contain NaN or infinite
            values, or a running variance is negative (nothing is written:
            :func:`load` would refuse such a file).
        TypeError
            ``path`` is not a str or os.PathLike (file objects cannot be
            written atomically).
        OSError
            The folder does not exist, is not writable, the disk is full...;
            an old file at the destination is left unchanged.

        Notes
        -----
        File format (version 1): a numpy ``.npz`` archive, members stored
        uncompressed, with exactly ``meta.npy`` (a 0-d unicode array holding
        the JSON object ``{"format": "jitmlp-npz", "version": 1, "config":
        get_config(), "training": bool}``), ``params.npy`` (the flat
        parameter buffer, 1-D, the model's dtype) and ``stats.npy`` (the
        BatchNorm running statistics, 1-D, possibly empty).  No pickle.

        Examples
        --------
        >>> import os, tempfile, jitmlp as jm
        >>> folder = tempfile.mkdtemp()
        >>> path = jm.MLP([2, 4, 1], seed=0).save(os.path.join(folder, "net"))
        >>> os.path.basename(path)
        'net.npz'
        >>> jm.load(path).sizes
        (2, 4, 1)
        """
        return _io.save(self, path)

    # ------------------------------------------------------- interoperability
    def to_onnx(self, path=None):
        """The network in evaluation mode as an ONNX graph.

        Input ``"X"`` of shape ``(batch, d)`` and output ``"h"`` of shape
        ``(batch, out)`` (the raw outputs of :meth:`forward`), both in the
        model's dtype; opset 17.  BatchNorm uses the running statistics
        whatever the model's current mode; the model itself is not changed.
        Needs the ``onnx`` extra (``pip install "jitmlp[onnx]"``).

        Parameters
        ----------
        path : str or os.PathLike, optional
            Write the graph there (atomically, as :meth:`save`: an old file
            stays whole until the new one is complete).  The name is used as
            given (no suffix is added).

        Returns
        -------
        onnx.ModelProto
            The graph, checked with ``onnx.checker.check_model``.

        Raises
        ------
        ImportError
            The ``onnx`` package is not installed.
        NotImplementedError
            The activation has no ONNX transcription (the message names it).
        ValueError
            A parameter or running statistic is not finite.

        Notes
        -----
        float64 graphs write GELU's erf with primitive ops (onnxruntime has no
        float64 ``Erf``); see :mod:`jitmlp._onnx`.

        Examples
        --------
        Serve the model with ONNX Runtime (runs where the ``onnx`` extra is
        installed):

        >>> import importlib.util, numpy as np, jitmlp as jm
        >>> model = jm.MLP([3, 8, 2], norm="batch", dtype="float32", seed=0)
        >>> X = np.ones((4, 3), np.float32)
        >>> if (importlib.util.find_spec("onnx")
        ...         and importlib.util.find_spec("onnxruntime")):
        ...     import onnxruntime as ort
        ...     proto = model.to_onnx()        # or model.to_onnx("model.onnx")
        ...     sess = ort.InferenceSession(proto.SerializeToString())
        ...     h, = sess.run(["h"], {"X": X})
        ...     assert np.allclose(h, model.eval().forward(X), rtol=1e-5)
        """
        from . import _onnx
        if path is None:
            return _onnx.build(self)
        return _onnx.save(self, path)

    @classmethod
    def from_torch(cls, module, *, loss="squared", dtype=None):
        """An MLP with the architecture and parameters of a PyTorch module.

        ``module`` is an ``nn.Sequential`` of ``Linear`` layers, each hidden
        one followed by an optional ``BatchNorm1d`` or ``LayerNorm`` and an
        activation (``ReLU``, ``LeakyReLU(0.01)``, ``Tanh``, ``Sigmoid``,
        ``GELU(approximate="none")``, ``ELU(1.0)``, ``SiLU``, ``Softplus``,
        ``Identity``, or none), the last ``Linear`` the output layer; or the
        module :meth:`to_torch` returns for a residual model.  Every hidden
        layer must use the same activation and normalisation.  Needs torch.

        Parameters
        ----------
        module : torch.nn.Module
        loss : str
            The loss of the new model (torch modules do not carry one).
        dtype : {"float32", "float64"} or None
            None: the dtype of the module's parameters.

        Returns
        -------
        MLP
            In the module's mode (``module.training``).  Outputs equal the
            module's in evaluation mode to rounding.

        Raises
        ------
        ImportError
            torch is not installed.
        ValueError
            A layer or a combination jitmlp cannot express (the message
            names the layer).

        Notes
        -----
        ``torch.nn.Linear`` stores ``weight`` as (out, in); it is transposed
        to jitmlp's (in, out).  BatchNorm1d's ``eps`` and ``momentum``
        become ``norm_eps`` and ``bn_momentum``.  jitmlp's BatchNorm layers
        have no bias: a Linear bias ``b`` before a BatchNorm1d is folded into
        the running mean, ``running_mean = running_mean_torch - b``, which
        is exact in evaluation mode (``BN(Wx + b)`` with mean ``m`` equals
        ``BN(Wx)`` with mean ``m - b``) and stays exact through further
        training (the bias cancels in the batch statistics, and the moving
        average of the shifted mean is the shifted moving average).

        Examples
        --------
        Runs where torch is installed:

        >>> import importlib.util, numpy as np, jitmlp as jm
        >>> if importlib.util.find_spec("torch"):
        ...     import torch
        ...     _ = torch.manual_seed(0)
        ...     net = torch.nn.Sequential(torch.nn.Linear(3, 8),
        ...                               torch.nn.Tanh(),
        ...                               torch.nn.Linear(8, 2)).double()
        ...     model = jm.MLP.from_torch(net, loss="cross_entropy")
        ...     assert model.sizes == (3, 8, 2) and model.activation == "tanh"
        ...     X = np.ones((4, 3))
        ...     h = net(torch.from_numpy(X)).detach().numpy()
        ...     assert np.allclose(model.forward(X), h)
        """
        from . import _torch
        return _torch.from_torch(cls, module, loss=loss, dtype=dtype)

    def to_torch(self):
        """The network as a PyTorch module with the same forward.

        A model without residual connections becomes an ``nn.Sequential``
        (``Linear``, ``BatchNorm1d``/``LayerNorm``, activation, ...,
        ``Linear``).  ``nn.Sequential`` cannot express ``x + phi(z)``, so a
        residual model becomes a :class:`jitmlp._torch.ResidualMLP`, a small
        ``nn.Module`` with the same forward, whose ``blocks`` are such
        ``nn.Sequential`` blocks; :meth:`from_torch` reads both back.
        Parameters are copied (dtype kept), the mode follows the model's.
        Needs torch.

        Returns
        -------
        torch.nn.Module

        Raises
        ------
        ImportError
            torch is not installed.
        NotImplementedError
            The activation has no PyTorch layer here.

        Examples
        --------
        Runs where torch is installed:

        >>> import importlib.util, numpy as np, jitmlp as jm
        >>> model = jm.MLP([3, 8, 2], norm="layer", seed=0).eval()
        >>> if importlib.util.find_spec("torch"):
        ...     import torch
        ...     net = model.to_torch()
        ...     assert [type(l).__name__ for l in net] == [
        ...         "Linear", "LayerNorm", "ReLU", "Linear"]
        ...     X = np.ones((4, 3))
        ...     h = net(torch.from_numpy(X)).detach().numpy()
        ...     assert np.allclose(h, model.forward(X))
        """
        from . import _torch
        return _torch.to_torch(self)

    def copy(self):
        """An independent model with the same architecture, parameters and mode.

        Returns
        -------
        MLP
            New buffers (writing one model leaves the other unchanged).

        Examples
        --------
        >>> import numpy as np, jitmlp as jm
        >>> a = jm.MLP([2, 4, 1], seed=0)
        >>> b = a.copy()
        >>> b.params[:] = 0.0
        >>> bool(np.array_equal(a.params, jm.MLP([2, 4, 1], seed=0).params))
        True
        """
        m = MLP.__new__(MLP)
        m.__dict__.update(self.__dict__)
        m._params = self._params.copy()
        m._stats = self._stats.copy()
        m._ws_cache = {}
        m._lock = threading.RLock()
        m._config = dict(self._config)
        return m


def load(path):
    """Read a model written by :meth:`MLP.save`: an exact round trip of the
    architecture, parameters, running statistics, dtype and mode.

    Loading runs no code from the file (no pickle) and checks everything
    before it allocates: the archive's members, the JSON metadata and its
    types, the number of parameters the declared architecture needs
    (computed before any model is built) against the members' sizes in the
    zip directory, and each array's ``.npy`` header (dtype, shape, order).
    So a small file declaring a huge layer, or a zip bomb, is refused at
    once, while a genuine large model loads with one copy of its parameters
    in memory.  The values are then checked: all finite, running variances
    >= 0.

    Parameters
    ----------
    path : str or os.PathLike
        The file.  Naming rule: ``path`` is read when it names an existing
        file, else ``path + ".npz"`` (the name :meth:`MLP.save` gives when
        ``path`` lacks the suffix).

    Returns
    -------
    MLP
        A new model, in the mode (training or evaluation) it was saved in.

    Raises
    ------
    FileNotFoundError
        Neither ``path`` nor ``path + ".npz"`` exists.
    IsADirectoryError, PermissionError
        ``path`` is a folder, or cannot be read (as from :func:`open`).
    ValueError
        The file is not one :meth:`MLP.save` would write; the message names
        the file and the problem, e.g. ``model.npz: params contains 3 NaN or
        infinite values``.  This covers: not a zip archive, a truncated or
        corrupt one, missing or extra members, meta that is not a JSON
        object or is larger than 1 MiB, wrong JSON types (``"training"``
        must be true/false, config entries must have the types
        :class:`MLP` takes), unknown or missing keys, a format version newer
        than this jitmlp reads, arrays of another dtype (int, bool, complex,
        str, object...), shape or size than the architecture needs, NaN or
        infinite values, negative running variances.

    Notes
    -----
    The file format is described under :meth:`MLP.save`.

    Examples
    --------
    >>> import os, tempfile, numpy as np, jitmlp as jm
    >>> model = jm.MLP([3, 8, 2], loss="cross_entropy", norm="batch", seed=0)
    >>> path = model.save(os.path.join(tempfile.mkdtemp(), "model"))
    >>> path.endswith("model.npz")
    True
    >>> again = jm.load(path)
    >>> bool(np.array_equal(again.params, model.params))
    True
    """
    return _io.load(path)
