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
    """
