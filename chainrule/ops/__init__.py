"""Primitives: each one keeps forward, backward (VJP), tangent (JVP) and test samples together."""
from .base import REGISTRY, Primitive, Sample, on_register, register, unregister  # noqa: F401
from . import arith, reduce, linalg, shape, nn  # noqa: F401  (importing registers them)
