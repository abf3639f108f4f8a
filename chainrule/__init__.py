"""chainrule: backpropagation you can see. Tensors on NumPy, reverse and forward mode, nn, viz."""
import warnings

import numpy as np

# NumPy's RuntimeWarnings for log(-1), sqrt of negatives, x/0 ... raised inside chainrule's own
# ops would point into chainrule's files; PyTorch gives nan/inf silently, and so does chainrule
# (cr.detect_anomaly() names the op that made them). Warnings from the user's own code stay.
warnings.filterwarnings("ignore", category=RuntimeWarning, module=r"chainrule(\.|$)")

from . import autograd
from .autograd import (Function, detect_anomaly, enable_grad, is_grad_enabled, no_grad,
                       set_grad_enabled)
from .tensor import Tensor, get_default_dtype, set_default_dtype
from .factories import (Generator, arange, as_tensor, asarray, default_generator, empty, eye,
                        from_numpy, full, full_like, linspace, manual_seed, ones, ones_like, rand, randint, randn, randperm,
                        tensor, zeros, zeros_like)
from .factories import rand_like, randint_like, randn_like  # noqa: F401
from . import functions
from .program import Program, make_program
from .check import GradcheckError, check_backward, gradcheck, gradgradcheck, numerical_grad
from .transforms import (grad, hessian, hvp, jacfwd, jacobian, jacrev, jvp, value_and_grad,
                         vjp)
from . import nn, optim
from . import linalg  # cr.linalg: torch.linalg's names (np.linalg.* on Tensors too)
from . import data
from . import distributed   # cheap: mpi4py is imported by init_process_group only
from .io import load, save
from . import viz  # graphviz is imported lazily, only by viz.draw
from .compile import compile  # noqa: A004 - cr.compile, as torch.compile

float32 = np.float32
float64 = np.float64
float16 = np.float16
int32 = np.int32
int64 = np.int64
bool_ = np.bool_
long = np.int64

__version__ = "0.1.0"

_OWN = set(globals())


def _public(e):
    """cr.<name> for every exposed op (generated from the registry; also for primitives added later)."""
    for name in e.names:
        if name in _OWN:
            raise ValueError(f"op {e.key!r}: public name cr.{name} is taken by something else")
    return [functions.put(globals(), name, e.fn) for name in e.names]


functions.on_expose(_public)
