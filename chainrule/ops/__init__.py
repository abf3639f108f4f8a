"""Primitives: each one keeps forward, backward (VJP), tangent (JVP) and test samples together."""
from .base import REGISTRY, At, Primitive, Sample, on_register, register, unregister  # noqa: F401
from . import arith, compare, reduce, linalg, shape, nn, rnn  # noqa: F401  (importing registers them)
from . import conv, pool  # noqa: F401
from . import math, special  # noqa: F401  (issue 10: more elementwise math, erf)
from . import scan  # noqa: F401  (issue 10: scans)
from . import select  # noqa: F401  (index-valued ops: arg-max, sort orders)
