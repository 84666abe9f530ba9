"""Checks at the public boundary: every error names the argument, what was
expected and what was received, and is raised before any state changes."""
import numbers

import numpy as np

from . import registry as R

# name -> kernel code, read from the registries (jitmlp.registry)
ACTIVATIONS = {k: a.code for k, a in R.ACTIVATIONS.items()}
NORMS = {k: n.code for k, n in R.NORMS.items()}
LOSSES = {k: l.code for k, l in R.LOSSES.items()}
INITS = ("he", "xavier", "lecun")

# the one wording of the BatchNorm batch-size rule (callers add the numbers)
BN_TWO_ROWS = ("BatchNorm in training mode needs at least 2 samples per batch "
               "(the batch variance of 1 sample is 0); call model.eval() to "
               "use the running statistics")
DTYPES = {"float32": np.float32, "float64": np.float64}


def choice(name, value, options):
    if not isinstance(value, (str, type(None))) or value not in options:
        opts = ", ".join(repr(o) for o in options)
        raise ValueError(f"{name} must be one of {opts}; got {value!r}")
    return value


def resolve_dtype(dtype):
    if isinstance(dtype, str) and dtype in DTYPES:
        return np.dtype(DTYPES[dtype])
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt is not None and dt.name in DTYPES and not isinstance(dtype, str):
        return dt
    raise ValueError(f"dtype must be 'float32' or 'float64'; got {dtype!r}")


def positive_int(name, value, minimum=1):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer; got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}; got {value}")
    return int(value)


def real(name, value, *, low=None, high=None, low_open=False, high_open=False):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number; got {value!r}")
    v = float(value)
    bad = not np.isfinite(v)
    if low is not None:
        bad |= v <= low if low_open else v < low
    if high is not None:
        bad |= v >= high if high_open else v > high
    if bad:
        lo = "" if low is None else ("(" if low_open else "[") + str(low)
        hi = "" if high is None else str(high) + (")" if high_open else "]")
        rng = f"{lo or '(-inf'}, {hi or 'inf)'}"
        raise ValueError(f"{name} must be in {rng}; got {value!r}")
    return v


def _numeric(name, a):
    if isinstance(a, np.ma.MaskedArray) and np.ma.getmaskarray(a).any():
        raise ValueError(f"{name} has {int(np.ma.getmaskarray(a).sum())} "
                         f"masked value(s); fill or drop them first "
                         f"({name}.filled(value) or {name}.compressed())")
    if hasattr(a, "tocsr") and hasattr(a, "nnz"):   # scipy.sparse
        raise TypeError(f"{name} is a scipy.sparse matrix; only X may be "
                        f"sparse: pass {name}.toarray()")
    try:
        arr = np.asarray(a)
    except Exception as exc:  # ragged lists and the like
        raise TypeError(f"{name} must be a numeric array; {exc}") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a numeric array; got dtype "
                        f"{arr.dtype}")
    return arr


def _kernel_array(arr, dtype):
    """C-contiguous, aligned, writable, native-order ``dtype``: the one array
    type the kernels are compiled for.  A read-only or unaligned array is
    another type to Numba (a second kernel set, 5-12 s of compiling): a copy
    is cheaper."""
    out = np.ascontiguousarray(arr, dtype=dtype)
    if not (out.flags.writeable and out.flags.aligned
            and out.dtype.isnative):
        out = np.array(out, dtype=dtype, order="C", copy=True)
    return out


def check_X(X, n_features, dtype, name="X"):
    """Return X as a C-contiguous (n, n_features) array of ``dtype``; a
    scipy.sparse X as a :class:`jitmlp._sparse.CSRRows` (no dense copy)."""
    from . import _sparse
    if isinstance(X, _sparse.CSRRows) or _sparse.is_scipy_sparse(X):
        return _sparse.check_sparse_X(X, n_features, dtype, name=name)
    arr = _numeric(name, X)
    if arr.ndim != 2:
        hint = (" (use X.reshape(-1, 1) for a single feature or "
                "X.reshape(1, -1) for a single sample)" if arr.ndim == 1 else "")
        raise ValueError(f"{name} must be 2-D (n_samples, n_features); got "
                         f"shape {arr.shape}{hint}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty: it has 0 samples")
    if arr.shape[1] != n_features:
        raise ValueError(f"{name} has {arr.shape[1]} features but the model "
                         f"expects {n_features}")
    out = _kernel_array(arr, dtype)
    if not np.isfinite(out).all():
        bad = int(np.count_nonzero(~np.isfinite(out)))
        raise ValueError(f"{name} contains {bad} NaN or infinite value(s) "
                         f"(in {dtype})")
    return out


def check_y(y, n, loss, n_out, dtype, name="y"):
    """Return targets as a C-contiguous 2-D array of ``dtype`` for the kernels,
    encoded as the :class:`jitmlp.registry.Loss` ``loss`` says."""
    arr = _numeric(name, y)
    if arr.ndim == 0 or arr.ndim > 2:
        raise ValueError(f"{name} must be 1-D or 2-D; got shape {arr.shape}")
    if arr.shape[0] != n:
        raise ValueError(f"X and {name} have different lengths: {n} and "
                         f"{arr.shape[0]}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    if loss.target in ("values", "nonneg", "indicator"):
        if loss.target == "nonneg" and (arr < 0).any():
            raise ValueError(f"{name} for the {loss.name} loss must be >= 0; "
                             f"found {int((arr < 0).sum())} negative "
                             f"value(s)")
        if loss.target == "indicator":
            ok = (arr == 0) | (arr == 1)
            if not ok.all():
                bad = np.unique(arr[~ok])[:5]
                raise ValueError(f"{name} for the {loss.name} loss must be 0 "
                                 f"or 1 (a label indicator matrix); found "
                                 f"{bad.tolist()}")
        if arr.ndim == 1:
            if n_out != 1:
                raise ValueError(f"{name} has shape {arr.shape} but the model "
                                 f"has {n_out} outputs; pass shape "
                                 f"({n}, {n_out})")
            arr = arr.reshape(-1, 1)
        elif arr.shape[1] != n_out:
            raise ValueError(f"{name} has {arr.shape[1]} columns but the model "
                             f"has {n_out} outputs")
        out = _kernel_array(arr, dtype)
        if not np.isfinite(out).all():
            raise ValueError(f"{name} overflows {dtype}")
        return out
    if arr.ndim == 2:
        if arr.shape[1] != 1:
            raise ValueError(f"{name} must be 1-D labels for this loss; got "
                             f"shape {arr.shape}")
        arr = arr[:, 0]
    if loss.target == "sign":
        ok = (arr == 1) | (arr == -1)
        if not ok.all():
            bad = np.unique(arr[~ok])[:5]
            raise ValueError(f"{name} for the {loss.name} loss must be -1 or "
                             f"+1; found {bad.tolist()}")
    elif loss.target == "class":
        ok = (arr == np.round(arr)) & (arr >= 0) & (arr < n_out)
        if not ok.all():
            bad = np.unique(arr[~ok])[:5]
            raise ValueError(f"{name} for {loss.name} must be integer class "
                             f"indices in [0, {n_out}); found {bad.tolist()}")
    else:
        raise ValueError(f"unknown target kind {loss.target!r} of loss "
                         f"{loss.name!r}")
    return _kernel_array(arr.reshape(-1, 1), dtype)


def dropout_rates(dropout, n_hidden):
    """(the config value, one rate per hidden layer) of ``dropout``: a number
    in [0, 1) or a sequence of one per hidden layer."""
    if isinstance(dropout, (str, bytes)):
        raise TypeError(f"dropout must be a number in [0, 1) or one per "
                        f"hidden layer; got {dropout!r}")
    if hasattr(dropout, "__len__"):
        rates = list(dropout)
        if len(rates) != n_hidden:
            raise ValueError(f"dropout has {len(rates)} rates but the model "
                             f"has {n_hidden} hidden layers")
        rates = [real(f"dropout[{i}]", p, low=0.0, high=1.0, high_open=True)
                 for i, p in enumerate(rates)]
        return rates, rates
    p = real("dropout", dropout, low=0.0, high=1.0, high_open=True)
    return p, [p] * n_hidden


def check_sample_weight(w, n, dtype, name="sample_weight"):
    """``w`` as a (n,) float64 array: finite, >= 0, not all zero, and
    representable in ``dtype`` (the kernels get it in the model's dtype)."""
    arr = _numeric(name, w)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D of shape ({n},); got shape "
                         f"{arr.shape}")
    if arr.shape[0] != n:
        raise ValueError(f"X and {name} have different lengths: {n} and "
                         f"{arr.shape[0]}")
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    if (arr < 0).any():
        raise ValueError(f"{name} must be >= 0; found "
                         f"{int((arr < 0).sum())} negative value(s)")
    if not np.isfinite(arr.astype(dtype)).all():
        raise ValueError(f"{name} overflows {np.dtype(dtype).name}")
    if not (arr.astype(dtype) > 0).any():
        raise ValueError(f"{name} is all zero: at least one sample needs a "
                         f"positive weight")
    return arr


def with_weight_column(Y, w, dtype):
    """The kernels' target block with the weights as its last column."""
    return _kernel_array(np.concatenate(
        [Y, np.asarray(w, dtype=dtype).reshape(-1, 1)], axis=1), dtype)


_SIMPLE = (bool, int, float, str, type(None), np.bool_, np.integer,
           np.floating)


def settings_key(settings):
    """A key equal to another exactly when every setting has the same type
    and value (so True and 1 differ); None when some value is not a plain
    scalar or a tuple of them (an array, a list ...): such settings cannot
    be compared safely and are validated every time.  NaN never equals
    itself, so a NaN setting is always validated (and refused).

    Parameters
    ----------
    settings : dict
        Name -> value.

    Returns
    -------
    tuple or None
    """
    key = []
    for name, v in settings.items():
        if isinstance(v, tuple):
            if not all(isinstance(e, _SIMPLE) for e in v):
                return None
            key.append((name, tuple, tuple((type(e), e) for e in v)))
        elif isinstance(v, _SIMPLE):
            key.append((name, type(v), v))
        else:
            return None
    return tuple(key)
