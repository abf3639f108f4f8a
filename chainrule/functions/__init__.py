"""The op API (`cr.exp`, `cr.sum`, `cr.cat`, ...): NumPy's and PyTorch's argument spellings, then a
primitive.

Most functions are generated from the primitives' declarations (`api`, `spelling`, ...; see
expose.py); the modules here hold what needs more argument handling, the compositions (var, std,
stack, split, squeeze, ...: no derivative code of their own) and NumPy's functions on Tensors.
"""
from . import expose as _expose

_expose.bind(globals())   # hand-written and generated functions both land in this namespace

from .args import (_MISSING, _AxisError, _T, _axis, _check_axes, _const, _data, _dim,  # noqa: E402,F401
                   _reduce, _shape_arg)
from .elementwise import (bitwise_and, bitwise_not, bitwise_or, bitwise_xor, eq, ge, gt,  # noqa: E402,F401
                          isfinite, isinf, isnan, le, logical_and, logical_not, logical_or,
                          logical_xor, lt, ne)
from .elementwise import clamp, clip, where  # noqa: E402,F401
from .reduce import (MaxResult, _extreme, argmax, argmin, logsumexp, max, min, norm, std,  # noqa: E402,F401
                     var)
from .linalg import dot, einsum, outer  # noqa: E402,F401
from .shape import (_index, _index_item, broadcast_to, chunk, concatenate, expand, flatten,  # noqa: E402,F401
                    gather, getitem, moveaxis, pad, permute, reshape, split, squeeze, stack,
                    swapaxes, take_along_axis, transpose, unsqueeze)
from . import scan as _scan_ops  # noqa: E402,F401  (issue 10: scans, sorting)
from . import layout as _layout_ops  # noqa: E402,F401  (issue 10: flip, roll, tril, ...)
from . import index as _index_ops  # noqa: E402,F401  (issue 10: scatter family)
from . import numpy_api  # noqa: E402,F401
from .numpy_api import mean, prod, sum  # noqa: E402,F401,A004  (dtype=; np.sum in NumPy's order)
from .torch_names import add, sub  # noqa: E402,F401  (alpha=; the operators stay generated)
from . import torch_names as _torch_names  # noqa: E402,F401  (PyTorch's aliases: mm, t, xlogy, ...)
from .expose import CLI, EXPOSED, expose, on_expose  # noqa: E402,F401
from ..ops.base import put  # noqa: E402,F401

_expose.start()   # generate cr.exp, cr.sum, ... from the registry (and for primitives added later)
