"""Containers and shape helpers: Sequential, ModuleList, ModuleDict, ParameterList, ParameterDict,
Identity, Flatten, Unflatten."""
from __future__ import annotations

import math

from collections import OrderedDict
from typing import Iterable

from .. import functions as F
from .module import Module


class Sequential(Module):
    """Modules applied one after another; indexable, sliceable, with len and append.

    >>> net = cr.nn.Sequential(cr.nn.Linear(4, 8), cr.nn.ReLU(), cr.nn.Linear(8, 2))
    >>> net(cr.randn(5, 4)).shape
    (5, 2)
    """

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], (dict, OrderedDict)):
            for name, m in modules[0].items():
                self.add_module(name, m)
        else:
            for i, m in enumerate(modules):
                self.add_module(str(i), m)

    def forward(self, x):
        for m in self._modules.values():
            x = m(x)
        return x

    def _index(self, idx):
        n = len(self._modules)
        if not -n <= idx < n:
            raise IndexError(f"{type(self).__name__}: index {idx} is out of range for {n} modules")
        return idx % n

    def __getitem__(self, idx):
        items = list(self._modules.items())
        if isinstance(idx, slice):
            return type(self)(OrderedDict(items[idx]))
        return items[self._index(idx)][1]

    def __setitem__(self, idx, module):
        key = list(self._modules)[self._index(idx)]
        self.add_module(key, module)

    def __delitem__(self, idx):
        keys = list(self._modules)
        for k in (keys[idx] if isinstance(idx, slice) else [keys[self._index(idx)]]):
            del self._modules[k]
        if all(k.isdigit() for k in keys):   # renumbered 0, 1, ... as PyTorch
            _renumber(self)

    def pop(self, idx) -> Module:
        m = self[idx]
        del self[idx]
        return m

    def __add__(self, other: "Sequential") -> "Sequential":
        if not isinstance(other, Sequential):
            raise TypeError(f"Sequential + {type(other).__name__}: expected a Sequential")
        return Sequential(*self, *other)

    def __iadd__(self, other):
        return self.extend(other)

    def __mul__(self, n: int) -> "Sequential":
        if not isinstance(n, int) or n <= 0:
            raise ValueError(f"Sequential * {n!r}: expected a positive int")
        return Sequential(*(list(self) * n))

    __rmul__ = __mul__

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module: Module) -> "Sequential":
        self.add_module(str(len(self._modules)), module)
        return self

    def extend(self, modules: Iterable[Module]) -> "Sequential":
        for m in modules:
            self.append(m)
        return self

    def insert(self, index: int, module: Module) -> "Sequential":
        mods = list(self._modules.values())
        mods.insert(index, module)
        self._modules.clear()
        for i, m in enumerate(mods):
            self.add_module(str(i), m)
        return self


class ModuleList(Module):
    """A list of modules whose parameters are registered (a plain list would hide them).

    >>> layers = cr.nn.ModuleList([cr.nn.Linear(3, 3) for _ in range(2)])
    >>> len(list(layers.parameters()))
    4
    """

    def __init__(self, modules: Iterable[Module] | None = None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def _index(self, idx):
        n = len(self._modules)
        if not -n <= idx < n:
            raise IndexError(f"ModuleList: index {idx} is out of range for {n} modules")
        return idx % n

    def __getitem__(self, idx):
        mods = list(self._modules.values())
        if isinstance(idx, slice):
            return ModuleList(mods[idx])
        return mods[self._index(idx)]

    def __setitem__(self, idx, module):
        self.add_module(str(self._index(idx)), module)

    def __delitem__(self, idx):
        keys = list(self._modules)
        for k in (keys[idx] if isinstance(idx, slice) else [keys[self._index(idx)]]):
            del self._modules[k]
        _renumber(self)   # 0, 1, ... again, as PyTorch

    def pop(self, idx: int = -1) -> Module:
        m = self[idx]
        del self[idx]
        return m

    def __add__(self, other) -> "ModuleList":
        return ModuleList([*self, *other])

    def __iadd__(self, modules) -> "ModuleList":
        return self.extend(modules)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __repr__(self):
        # runs of equal children collapse to "(0-2): 3 x ReLU()", as PyTorch prints them
        reprs = [repr(m).replace("\n", "\n  ") for m in self]
        if not reprs:
            return "ModuleList()"
        lines, start = [], 0
        for i in range(1, len(reprs) + 1):
            if i == len(reprs) or reprs[i] != reprs[start]:
                n = i - start
                key = f"({start})" if n == 1 else f"({start}-{i - 1}): {n} x"
                lines.append(f"  {key}: {reprs[start]}" if n == 1 else f"  {key} {reprs[start]}")
                start = i
        return "ModuleList(\n" + "\n".join(lines) + "\n)"

    def append(self, module: Module) -> "ModuleList":
        self.add_module(str(len(self._modules)), module)
        return self

    def extend(self, modules: Iterable[Module]) -> "ModuleList":
        for m in modules:
            self.append(m)
        return self

    def insert(self, index: int, module: Module) -> None:
        mods = list(self._modules.values())
        mods.insert(index, module)
        self._modules.clear()
        for i, m in enumerate(mods):
            self.add_module(str(i), m)

    def forward(self, *args, **kwargs):
        raise NotImplementedError("ModuleList has no forward(); iterate over it in your own forward")


def _renumber(container):
    mods = list(container._modules.values())
    container._modules.clear()
    for i, m in enumerate(mods):
        container._modules[str(i)] = m


class Identity(Module):
    """Returns its input unchanged (any constructor arguments are ignored, as in PyTorch)."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, x):
        return x


class Flatten(Module):
    """Flatten dims start_dim..end_dim (default: all but the batch dim).

    >>> cr.nn.Flatten()(cr.zeros(2, 3, 4)).shape
    (2, 12)
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        s = tuple(x.shape)
        if 0 in s and len(s) > 1:   # an empty batch: reshape cannot infer a -1 next to a 0
            a, b = self.start_dim % len(s), self.end_dim % len(s)
            if a <= b:
                return F.reshape(x, s[:a] + (math.prod(s[a:b + 1]),) + s[b + 1:])
        return F.flatten(x, self.start_dim, self.end_dim)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Expand dim `dim` into `unflattened_size` (the inverse of Flatten).

    >>> cr.nn.Unflatten(1, (3, 4))(cr.zeros(2, 12)).shape
    (2, 3, 4)
    """

    def __init__(self, dim: int, unflattened_size):
        super().__init__()
        self.dim, self.unflattened_size = dim, tuple(unflattened_size)

    def forward(self, x):
        shape = tuple(x.shape)
        if not -len(shape) <= self.dim < len(shape):
            raise IndexError(f"Unflatten: dim {self.dim} is out of range for input shape {shape}")
        d = self.dim % len(shape)
        known = 1
        for n in self.unflattened_size:
            known *= n if n != -1 else 1
        if -1 not in self.unflattened_size and known != shape[d]:
            raise ValueError(f"Unflatten: dim {self.dim} of shape {shape} has size {shape[d]}, "
                             f"which is not the product of unflattened_size {self.unflattened_size}")
        return F.reshape(x, shape[:d] + self.unflattened_size + shape[d + 1:])

    def extra_repr(self):
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"


class ModuleDict(Module):
    """A dict of modules whose parameters are registered, in insertion order (keys are strings).

    >>> heads = cr.nn.ModuleDict({"cls": cr.nn.Linear(4, 3), "reg": cr.nn.Linear(4, 1)})
    >>> list(heads.state_dict())
    ['cls.weight', 'cls.bias', 'reg.weight', 'reg.bias']
    """

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key: str) -> Module:
        try:
            return self._modules[key]
        except KeyError:
            raise KeyError(f"ModuleDict: no module {key!r}; keys are {list(self._modules)}") from None

    def __setitem__(self, key: str, module: Module) -> None:
        self.add_module(key, module)

    def __delitem__(self, key: str) -> None:
        del self._modules[key]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def __contains__(self, key):
        return key in self._modules

    def keys(self):
        return self._modules.keys()

    def items(self):
        return self._modules.items()

    def values(self):
        return self._modules.values()

    def pop(self, key: str) -> Module:
        m = self[key]
        del self._modules[key]
        return m

    def clear(self) -> None:
        self._modules.clear()

    def update(self, modules) -> None:
        items = modules.items() if hasattr(modules, "items") else modules
        for key, m in items:
            self.add_module(key, m)

    def forward(self, *args, **kwargs):
        raise NotImplementedError("ModuleDict has no forward(); index it in your own forward")


def _as_param(value):
    from .parameter import Parameter
    return value if value is None or isinstance(value, Parameter) else Parameter(value)


class ParameterList(Module):
    """A list of Parameters, registered under '0', '1', ... (plain tensors are wrapped).

    >>> ps = cr.nn.ParameterList([cr.nn.Parameter(cr.ones(2)), cr.zeros(3)])
    >>> [n for n, _ in ps.named_parameters()]
    ['0', '1']
    """

    def __init__(self, values=None):
        super().__init__()
        if values is not None:
            self.extend(values)

    def _index(self, idx):
        n = len(self._parameters)
        if not -n <= idx < n:
            raise IndexError(f"ParameterList: index {idx} is out of range for {n} parameters")
        return idx % n

    def __getitem__(self, idx):
        ps = list(self._parameters.values())
        if isinstance(idx, slice):
            return ParameterList(ps[idx])
        return ps[self._index(idx)]

    def __setitem__(self, idx, value):
        self.register_parameter(str(self._index(idx)), _as_param(value))

    def __len__(self):
        return len(self._parameters)

    def __iter__(self):
        return iter(self._parameters.values())

    def append(self, value) -> "ParameterList":
        self.register_parameter(str(len(self._parameters)), _as_param(value))
        return self

    def extend(self, values) -> "ParameterList":
        for v in values:
            self.append(v)
        return self

    def forward(self, *args, **kwargs):
        raise NotImplementedError("ParameterList has no forward()")

    def extra_repr(self):
        return "\n".join(f"({i}): Parameter containing: {tuple(p.shape)}"
                         for i, p in enumerate(self._parameters.values()))


class ParameterDict(Module):
    """A dict of Parameters under string keys (plain tensors are wrapped), in insertion order.

    >>> pd = cr.nn.ParameterDict({"scale": cr.ones(3)}); list(pd.state_dict())
    ['scale']
    """

    def __init__(self, parameters=None):
        super().__init__()
        if parameters is not None:
            self.update(parameters)

    def __getitem__(self, key: str):
        try:
            return self._parameters[key]
        except KeyError:
            raise KeyError(f"ParameterDict: no parameter {key!r}; keys are "
                           f"{list(self._parameters)}") from None

    def __setitem__(self, key: str, value) -> None:
        self.register_parameter(key, _as_param(value))

    def __delitem__(self, key: str) -> None:
        del self._parameters[key]

    def __len__(self):
        return len(self._parameters)

    def __iter__(self):
        return iter(self._parameters)

    def __contains__(self, key):
        return key in self._parameters

    def keys(self):
        return self._parameters.keys()

    def items(self):
        return self._parameters.items()

    def values(self):
        return self._parameters.values()

    def get(self, key, default=None):
        return self._parameters.get(key, default)

    def pop(self, key):
        p = self[key]
        del self._parameters[key]
        return p

    def update(self, parameters) -> None:
        items = parameters.items() if hasattr(parameters, "items") else parameters
        for key, v in items:
            self[key] = v

    def forward(self, *args, **kwargs):
        raise NotImplementedError("ParameterDict has no forward()")

    def extra_repr(self):
        return "\n".join(f"({k}): Parameter containing: {tuple(p.shape)}"
                         for k, p in self._parameters.items())
