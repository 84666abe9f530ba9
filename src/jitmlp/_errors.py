"""Exceptions of jitmlp (a module of its own so that every layer can raise them)."""


class DivergenceError(FloatingPointError):
    """Training produced a non-finite loss, gradient, parameter or statistic.

    The step that did so was refused: the model keeps the parameters and
    running statistics of the last finite step (exactly), the optimizer's
    step count counts only the steps made, and ``history`` holds what was
    trained before, the interrupted epoch included.

    Parameters
    ----------
    msg : str
    epoch, step : int or None
    history : History or None

    Attributes
    ----------
    epoch : int
        0-based global epoch of the refused step.
    step : int
        0-based step within that epoch.
    history : History or None
        The history of the call that raised.

    Examples
    --------
    >>> import numpy as np, jitmlp as jm
    >>> model = jm.MLP([2, 1], seed=0)
    >>> before = model.params.copy()
    >>> try:
    ...     jm.Trainer(model, jm.SGD(lr=1e30), batch_size=1, epochs=1,
    ...                seed=0).fit(np.full((8, 2), 1e10), np.zeros(8))
    ... except jm.DivergenceError as e:
    ...     err = e
    >>> isinstance(err, FloatingPointError), err.epoch, err.history.diverged
    (True, 0, True)
    >>> bool(np.isfinite(model.params).all())    # the last finite step kept
    True
    """

    def __init__(self, msg, epoch, step, history):
        super().__init__(msg)
        self.epoch = epoch
        self.step = step
        self.history = history


class NonFiniteOutputError(ValueError, ArithmeticError):
    """A prediction method would return NaN or infinite values.

    Raised instead of returning them: the inputs are finite, so the network
    overflows the dtype on them (large inputs, float32, deep residual nets).
    A ``ValueError`` (the input is out of the model's range) and an
    ``ArithmeticError``.

    Examples
    --------
    >>> import numpy as np, jitmlp as jm
    >>> model = jm.MLP([1, 1], dtype="float32", seed=0)
    >>> model.params[:] = 1e30
    >>> try:
    ...     model.forward(np.full((1, 1), 1e30))
    ... except jm.NonFiniteOutputError as e:
    ...     print(isinstance(e, ValueError), e)
    True forward: the network's output has 1 NaN or infinite value(s) ...
    """
