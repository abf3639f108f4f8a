"""Primitives: each one keeps forward, backward (VJP), tangent (JVP) and test samples together."""
from .base import REGISTRY, Primitive, Sample, register  # noqa: F401
from . import arith, reduce, linalg, shape, nn  # noqa: F401  (importing registers them)
from . import conv, pool  # noqa: F401
