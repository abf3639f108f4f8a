"""Activation functions as modules (stateless; each calls cr.nn.functional)."""
from __future__ import annotations

from .. import functions as _f
from . import functional as F
from .module import Module


class Sigmoid(Module):
    """σ(x) = 1 / (1 + e⁻ˣ)."""

    def forward(self, input):
        return F.sigmoid(input)


class Tanh(Module):
    def forward(self, input):
        return F.tanh(input)


class ReLU(Module):
    """max(0, x).  >>> cr.nn.ReLU()(cr.tensor([-1.0, 2.0]))  # tensor([0., 2.])"""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input):
        return _f.relu(input)

    def extra_repr(self):
        return "inplace=True" if self.inplace else ""


class LeakyReLU(Module):
    """x if x > 0 else negative_slope·x."""

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False):
        super().__init__()
        self.negative_slope, self.inplace = negative_slope, inplace

    def forward(self, input):
        return F.leaky_relu(input, self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


class ELU(Module):
    """x if x > 0 else α(eˣ − 1)."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False):
        super().__init__()
        self.alpha, self.inplace = alpha, inplace

    def forward(self, input):
        return F.elu(input, self.alpha)

    def extra_repr(self):
        return f"alpha={self.alpha}"


class GELU(Module):
    """x·Φ(x) (exact, PyTorch's default) or its tanh approximation; see F.gelu."""

    def __init__(self, approximate: str = "none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, input):
        return F.gelu(input, self.approximate)

    def extra_repr(self):
        return f"approximate={self.approximate!r}"


class Softplus(Module):
    """ln(1 + e^(βx))/β, x where βx > threshold."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0):
        super().__init__()
        self.beta, self.threshold = beta, threshold

    def forward(self, input):
        return F.softplus(input, self.beta, self.threshold)

    def extra_repr(self):
        return f"beta={self.beta}, threshold={self.threshold}"


class Softmax(Module):
    """Softmax along `dim` (dim=None means the last dim)."""

    def __init__(self, dim: int | None = None):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        return F.softmax(input, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """log softmax along `dim` (dim=None means the last dim)."""

    def __init__(self, dim: int | None = None):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        return F.log_softmax(input, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


def _simple(name, fn, doc):
    """A stateless module calling F.<fn>(input)."""
    def __init__(self, inplace: bool = False):   # accepted as PyTorch's; results are new tensors
        Module.__init__(self)
        self.inplace = inplace
    return type(name, (Module,), {"__doc__": doc, "forward": lambda self, input: fn(input),
                                  "__init__": __init__, "__module__": __name__})


SiLU = _simple("SiLU", F.silu, "x·σ(x).  >>> cr.nn.SiLU()(cr.tensor([0.0]))")
Mish = _simple("Mish", F.mish, "x·tanh(softplus(x)).")
SELU = _simple("SELU", F.selu, "scale·elu(x, α) with PyTorch's constants.")
ReLU6 = _simple("ReLU6", F.relu6, "min(max(0, x), 6).")
Hardswish = _simple("Hardswish", F.hardswish, "x·relu6(x + 3)/6.")
Hardsigmoid = _simple("Hardsigmoid", F.hardsigmoid, "relu6(x + 3)/6.")
Softsign = _simple("Softsign", F.softsign, "x/(1 + |x|).")
LogSigmoid = _simple("LogSigmoid", F.logsigmoid, "log σ(x).")
Tanhshrink = _simple("Tanhshrink", F.tanhshrink, "x − tanh x.")


class CELU(Module):
    """x if x > 0 else α(e^(x/α) − 1)."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False):
        super().__init__()
        self.alpha = alpha

    def forward(self, input):
        return F.celu(input, self.alpha)

    def extra_repr(self):
        return f"alpha={self.alpha}"


class Hardtanh(Module):
    """x clipped to [min_val, max_val]."""

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False):
        super().__init__()
        self.min_val, self.max_val = min_val, max_val

    def forward(self, input):
        return F.hardtanh(input, self.min_val, self.max_val)

    def extra_repr(self):
        return f"min_val={self.min_val}, max_val={self.max_val}"


class Threshold(Module):
    """x where x > threshold, else value."""

    def __init__(self, threshold: float, value: float, inplace: bool = False):
        super().__init__()
        self.threshold, self.value = threshold, value

    def forward(self, input):
        return F.threshold(input, self.threshold, self.value)

    def extra_repr(self):
        return f"threshold={self.threshold}, value={self.value}"


class _Dim(Module):
    def __init__(self, dim: int | None = None):
        super().__init__()
        self.dim = dim

    def extra_repr(self):
        return f"dim={self.dim}"


class Softmin(_Dim):
    """softmax(−x) along dim."""

    def forward(self, input):
        return F.softmin(input, self.dim)


class GLU(_Dim):
    """a·σ(b) with a, b the halves of input along dim (default -1)."""

    def __init__(self, dim: int = -1):
        super().__init__(dim)

    def forward(self, input):
        return F.glu(input, self.dim)


class PReLU(Module):
    """x if x > 0 else a·x with a learned slope a (one, or one per channel), initialised to `init`.

    >>> m = cr.nn.PReLU(); m(cr.tensor([-1.0, 2.0]))  # tensor([-0.25, 2.])
    """

    def __init__(self, num_parameters: int = 1, init: float = 0.25, dtype=None):
        super().__init__()
        from .parameter import Parameter
        from ..factories import full
        self.num_parameters = num_parameters
        self.weight = Parameter(full((num_parameters,), init, dtype=dtype))

    def forward(self, input):
        return F.prelu(input, self.weight)

    def extra_repr(self):
        return f"num_parameters={self.num_parameters}"


class Hardshrink(Module):
    """x where |x| > lambd, else 0."""

    def __init__(self, lambd: float = 0.5):
        super().__init__()
        self.lambd = lambd

    def forward(self, input):
        return F.hardshrink(input, self.lambd)

    def extra_repr(self):
        return f"{self.lambd}"


class Softshrink(Hardshrink):
    """x − lambd·sign(x) where |x| > lambd, else 0."""

    def forward(self, input):
        return F.softshrink(input, self.lambd)


class RReLU(Module):
    """Randomized leaky ReLU: slope ~ U(lower, upper) per element in training, (lower+upper)/2 in eval."""

    def __init__(self, lower: float = 1.0 / 8, upper: float = 1.0 / 3, inplace: bool = False):
        super().__init__()
        self.lower, self.upper, self.inplace = lower, upper, inplace

    def forward(self, input):
        return F.rrelu(input, self.lower, self.upper, self.training)

    def extra_repr(self):
        return f"lower={self.lower}, upper={self.upper}"
