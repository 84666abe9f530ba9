"""phi and phi' by integer code, evaluated together in one call.

The forward pass stores phi'(a) so that the delta recursion only multiplies;
no activation is re-evaluated in the backward pass.
"""
import math

from ._jit import kernel
from .consts import (ACT_ELU, ACT_GELU, ACT_IDENTITY, ACT_LEAKY_RELU,
                     ACT_RELU, ACT_SIGMOID, ACT_SILU, ACT_SOFTPLUS, ACT_TANH,
                     LEAKY_SLOPE)

_INV_SQRT2 = 1.0 / math.sqrt(2.0)
_INV_SQRT2PI = 1.0 / math.sqrt(2.0 * math.pi)


@kernel(inline="always")
def sigmoid(a):
    """The stable logistic: never exponentiates a positive number."""
    if a >= 0:
        return 1.0 / (1.0 + math.exp(-a))
    e = math.exp(a)
    return e / (1.0 + e)


@kernel(inline="always")
def phi_and_dphi(code, a):
    """Return ``(phi(a), phi'(a))`` for the activation ``code``."""
    if code == ACT_RELU:
        if a > 0:
            return a, 1.0
        return 0.0 * a, 0.0
    if code == ACT_LEAKY_RELU:
        if a > 0:
            return a, 1.0
        return LEAKY_SLOPE * a, LEAKY_SLOPE
    if code == ACT_TANH:
        t = math.tanh(a)
        return t, 1.0 - t * t
    if code == ACT_SIGMOID:
        s = sigmoid(a)
        return s, s * (1.0 - s)
    if code == ACT_GELU:
        c = 0.5 * (1.0 + math.erf(a * _INV_SQRT2))
        return a * c, c + a * _INV_SQRT2PI * math.exp(-0.5 * a * a)
    if code == ACT_ELU:
        if a > 0:
            return a, 1.0
        e = math.exp(a)
        return e - 1.0, e
    if code == ACT_SILU:
        s = sigmoid(a)
        return a * s, s * (1.0 + a * (1.0 - s))
    if code == ACT_SOFTPLUS:
        # log(1 + exp(a)) = max(a, 0) + log1p(exp(-|a|)): no overflow
        return max(a, 0.0) + math.log1p(math.exp(-abs(a))), sigmoid(a)
    if code == ACT_IDENTITY:
        return a, 1.0
    raise ValueError("jitmlp kernel: unknown activation code")
