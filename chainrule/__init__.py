"""chainrule: backpropagation you can see. Tensors on NumPy, reverse and forward mode, nn, viz."""
import numpy as np

from . import autograd
from .autograd import (Function, detect_anomaly, enable_grad, is_grad_enabled, no_grad,
                       set_grad_enabled)
from .tensor import Tensor, get_default_dtype, set_default_dtype
from .factories import (arange, default_generator, empty, eye, from_numpy, full, full_like,
                        linspace, manual_seed, ones, ones_like, rand, randint, randn, randperm,
                        tensor, zeros, zeros_like)
from .functions import (abs, add, amax, amin, argmax, argmin, broadcast_to, cat, chunk, clamp, clip,
                        concatenate, cos, div, dot, einsum, elu, exp, expand, expand_dims, flatten,
                        gather, leaky_relu, log, log1p, log_softmax, logsumexp, matmul, max,
                        maximum, mean, min, minimum, moveaxis, mul, neg, norm, outer, pad, permute,
                        pow, prod, relu, reshape, sigmoid, sign, sin, softmax, softplus, split,
                        sqrt, squeeze, stack, std, sub, sum, swapaxes, take_along_axis, tanh,
                        transpose, unsqueeze, var, view, where)
from .check import GradcheckError, check_backward, gradcheck, gradgradcheck, numerical_grad
from .transforms import (grad, hessian, hvp, jacfwd, jacobian, jacrev, jvp, value_and_grad,
                         vjp)
from . import nn, optim
from . import data
from . import distributed   # cheap: mpi4py is imported by init_process_group only
from .io import load, save
from . import viz  # graphviz is imported lazily, only by viz.draw

float32 = np.float32
float64 = np.float64
float16 = np.float16
int32 = np.int32
int64 = np.int64
bool_ = np.bool_
long = np.int64

__version__ = "0.1.0"
