"""functional_call: run a module with given tensors in place of its parameters and buffers."""
from __future__ import annotations

from typing import Mapping

import numpy as np

from ..tensor import Tensor
from .module import Module


def _owner(module, name):
    """(sub-module, attribute, store) holding the parameter or buffer with qualified `name`."""
    *path, leaf = name.split(".")
    mod = module
    for part in path:
        nxt = mod._modules.get(part)
        if nxt is None:
            raise KeyError(f"functional_call: {name!r}: {type(mod).__name__} has no sub-module "
                           f"{part!r}")
        mod = nxt
    for store in (mod._parameters, mod._buffers):
        if leaf in store:
            return mod, leaf, store
    raise KeyError(f"functional_call: {name!r} is not a parameter or buffer of "
                   f"{type(module).__name__}")


def functional_call(module: Module, parameters_and_buffers: Mapping, *args, strict: bool = False,
                    **kwargs):
    """module(*args, **kwargs) computed with the tensors in `parameters_and_buffers` (qualified
    name → Tensor) swapped in for the module's own; the originals are restored afterwards.

    Makes a module a pure function of its parameters, so cr.grad works on it:

    >>> params = dict(model.named_parameters())
    >>> grads = cr.grad(lambda p: F.cross_entropy(cr.nn.functional_call(model, p, x), y))(params)

    PyTorch's spelling functional_call(module, params, (x, y)) with a tuple of arguments (and an
    optional dict of keyword arguments) works too. strict=True requires every parameter and
    buffer to be given.
    """
    if len(args) in (1, 2) and isinstance(args[0], tuple) and \
            (len(args) == 1 or isinstance(args[1], dict)):
        if len(args) == 2:
            kwargs = {**args[1], **kwargs}
        args = args[0]
    if strict:
        own = set(module.state_dict(keep_vars=True))
        missing = sorted(own - set(parameters_and_buffers))
        if missing:
            raise KeyError(f"functional_call: strict=True but no value given for {missing}")
    swaps = []
    for name, value in parameters_and_buffers.items():
        mod, leaf, store = _owner(module, name)
        if not isinstance(value, Tensor):
            value = Tensor._make(np.asarray(value), False)
        old = store[leaf]
        if old is not None and tuple(old.shape) != tuple(value.shape):
            raise ValueError(f"functional_call: {name!r} has shape {tuple(value.shape)}, the module "
                             f"expects {tuple(old.shape)}")
        swaps.append((store, leaf, old))
    try:
        for (store, leaf, _), value in zip(swaps, parameters_and_buffers.values()):
            # straight into the dict: the value may be a non-leaf Tensor, not a Parameter
            store[leaf] = value if isinstance(value, Tensor) else Tensor._make(np.asarray(value), False)
        return module(*args, **kwargs)
    finally:
        for store, leaf, old in reversed(swaps):
            store[leaf] = old
