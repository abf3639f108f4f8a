"""Module: the base class of layers, with PyTorch's registration, traversal and state_dict machinery."""
from __future__ import annotations

import weakref
from collections import OrderedDict, namedtuple
from typing import Callable, Iterator

import numpy as np

from .. import autograd
from ..tensor import Tensor
from .parameter import Parameter

IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


def check_device(who: str, device) -> None:
    """Layers take PyTorch's device= keyword; chainrule runs on the CPU only."""
    if device is not None and str(device) != "cpu":
        raise ValueError(f"{who}: device {device!r} is not supported; chainrule runs on 'cpu' only")


class RemovableHandle:
    """Returned by register_*_hook; `.remove()` takes the hook off."""
    _next_id = 0

    def __init__(self, store: OrderedDict, hook: Callable):
        RemovableHandle._next_id += 1
        self.id = RemovableHandle._next_id
        self._store = store
        store[self.id] = hook

    def remove(self) -> None:
        self._store.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()
        return False


_node_counter = autograd._next_seq   # autograd.node_counter without the extra call


_tagged = [0]   # the highest seq tagged so far: a node made after it was never tagged
_ref = weakref.ref


def _tag_call(module, start, out):
    """Note on the output's node which module call made it: one store per call, none per node;
    viz claims the nodes of the call afterwards (seq > start, reachable from the output)."""
    if type(out) is Tensor:
        node = out.grad_fn
        if node is not None and node.seq > start:
            if node.seq > _tagged[0]:   # made after every tagged node: nothing to chain to
                _tagged[0] = node.seq
                node.calls = (start, _ref(module), None)
            else:                       # maybe tagged by an inner call (an unset slot raises)
                node.calls = (start, _ref(module), getattr(node, "calls", None))
    elif type(out) is tuple:
        for o in out:
            _tag_call(module, start, o)
    return out


class Module:
    """Base class of every layer: assign Parameters and Modules as attributes and they are registered.

    >>> class Affine(cr.nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.w = cr.nn.Parameter(cr.ones(3))
    ...     def forward(self, x):
    ...         return x * self.w
    >>> [n for n, _ in Affine().named_parameters()]
    ['w']
    """
    training: bool

    def __init__(self):
        # object.__setattr__: our own __setattr__ needs these dicts to exist already.
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_forward_hooks", OrderedDict())
        object.__setattr__(self, "_forward_pre_hooks", OrderedDict())

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__}: forward() is not implemented")

    def __call__(self, *args, **kwargs):
        start = _node_counter()   # nodes made after this belong to this call (viz collapse)
        if not (self._forward_hooks or self._forward_pre_hooks):
            return _tag_call(self, start, self.forward(*args, **kwargs))
        for hook in list(self._forward_pre_hooks.values()):
            res = hook(self, args)
            if res is not None:
                args = res if isinstance(res, tuple) else (res,)
        out = self.forward(*args, **kwargs)
        for hook in list(self._forward_hooks.values()):
            res = hook(self, args, out)
            if res is not None:
                out = res
        return _tag_call(self, start, out)

    def register_forward_hook(self, hook: Callable) -> "RemovableHandle":
        """Call hook(module, inputs, output) after every forward; a returned value replaces output.

        >>> h = layer.register_forward_hook(lambda m, i, o: print(o.shape)); ...; h.remove()
        """
        return RemovableHandle(self._forward_hooks, hook)

    def register_forward_pre_hook(self, hook: Callable) -> "RemovableHandle":
        """Call hook(module, inputs) before every forward; a returned value replaces the inputs."""
        return RemovableHandle(self._forward_pre_hooks, hook)

    # ---------------------------------------------------------------- registration
    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}: call super().__init__() before assigning "
                                 f"attribute {name!r}")
        params, mods, bufs = self._parameters, self._modules, self._buffers
        if isinstance(value, Parameter):
            self._drop(name, params)   # a name already registered keeps its place (PyTorch)
            params[name] = value
        elif isinstance(value, Module):
            self._drop(name, mods)
            mods[name] = value
        elif name in params:
            if value is not None:
                raise TypeError(f"{type(self).__name__}.{name}: cannot assign {type(value).__name__} "
                                f"to a parameter (expected cr.nn.Parameter or None; wrap it: "
                                f"cr.nn.Parameter(t))")
            params[name] = value
        elif name in mods:
            if value is not None:
                raise TypeError(f"{type(self).__name__}.{name}: cannot assign {type(value).__name__} "
                                f"to a sub-module (expected cr.nn.Module or None)")
            mods[name] = value
        elif name in bufs:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"{type(self).__name__}.{name}: cannot assign {type(value).__name__} "
                                f"to a buffer (expected a Tensor or None)")
            bufs[name] = value
        else:
            object.__setattr__(self, name, value)

    def _drop(self, name, keep=None):
        for d in (self._parameters, self._modules, self._buffers):
            if d is not keep:
                d.pop(name, None)
        self.__dict__.pop(name, None)

    def __getattr__(self, name):
        # only reached when normal lookup fails: parameters, buffers and sub-modules live in dicts
        d = self.__dict__
        for key in ("_parameters", "_buffers", "_modules"):
            store = d.get(key)
            if store is not None and name in store:
                return store[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name):
        for d in (self._parameters, self._buffers, self._modules):
            if name in d:
                del d[name]
                return
        object.__delattr__(self, name)

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self._parameters) | set(self._buffers)
                      | set(self._modules))

    def register_parameter(self, name: str, param) -> None:
        """Register `param` (a Parameter or None) under `name`."""
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter: {name!r} must be a cr.nn.Parameter or None, got "
                            f"{type(param).__name__}")
        _check_name("register_parameter", name)
        self._drop(name, self._parameters)
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor, persistent: bool = True) -> None:
        """Register a non-learnable state tensor (e.g. BatchNorm's running_mean); in state_dict if persistent."""
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"register_buffer: {name!r} must be a Tensor or None, got "
                            f"{type(tensor).__name__}")
        _check_name("register_buffer", name)
        self._drop(name, self._buffers)
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent.discard(name)
        else:
            self._non_persistent.add(name)

    def add_module(self, name: str, module) -> None:
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module: {name!r} must be a cr.nn.Module, got {type(module).__name__}")
        _check_name("add_module", name)
        self._drop(name, self._modules)
        self._modules[name] = module

    def get_submodule(self, target: str) -> "Module":
        """The sub-module at a dotted path, e.g. "encoder.layers.0" ("" is this module)."""
        mod = self
        for part in target.split(".") if target else []:
            sub = mod._modules.get(part)
            if not isinstance(sub, Module):
                raise AttributeError(f"get_submodule: {type(mod).__name__} has no sub-module "
                                     f"{part!r} (path {target!r})")
            mod = sub
        return mod

    def get_parameter(self, target: str):
        """The parameter at a dotted path, e.g. "0.weight"."""
        return self._get_at(target, "_parameters", "parameter")

    def get_buffer(self, target: str):
        """The buffer at a dotted path, e.g. "bn.running_mean"."""
        return self._get_at(target, "_buffers", "buffer")

    def _get_at(self, target, table, kind):
        path, _, name = target.rpartition(".")
        mod = self.get_submodule(path)
        entries = getattr(mod, table)
        if name not in entries:
            raise AttributeError(f"get_{kind}: {type(mod).__name__} has no {kind} {name!r} "
                                 f"(path {target!r})")
        return entries[name]

    register_module = add_module

    # ---------------------------------------------------------------- traversal (iterative)
    def named_modules(self, memo=None, prefix: str = "", remove_duplicate: bool = True):
        """(qualified name, module) for this module and every descendant, depth first, in order."""
        seen = set() if memo is None else memo
        stack = [(prefix, self)]
        while stack:
            name, mod = stack.pop()
            if remove_duplicate:
                if id(mod) in seen:
                    continue
                seen.add(id(mod))
            yield name, mod
            kids = [(f"{name}.{k}" if name else k, m) for k, m in mod._modules.items() if m is not None]
            stack.extend(reversed(kids))

    def modules(self) -> Iterator["Module"]:
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        seen = set()
        for name, m in self._modules.items():
            if m is not None and id(m) not in seen:
                seen.add(id(m))
                yield name, m

    def children(self) -> Iterator["Module"]:
        for _, m in self.named_children():
            yield m

    def _named_members(self, store, prefix, recurse, remove_duplicate=True):
        seen = set()
        mods = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        for mname, mod in mods:
            for k, v in getattr(mod, store).items():
                if v is None or (remove_duplicate and id(v) in seen):
                    continue
                seen.add(id(v))
                yield (f"{mname}.{k}" if mname else k), v

    def named_parameters(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True):
        """(qualified name, Parameter) pairs; a parameter shared by two layers appears once."""
        return self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True):
        return self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    # ---------------------------------------------------------------- modes and gradients
    def train(self, mode: bool = True) -> "Module":
        """Training mode (dropout active, BatchNorm uses batch statistics). Returns self."""
        if not isinstance(mode, bool):
            raise ValueError(f"train: mode must be a bool, got {type(mode).__name__}")
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self) -> "Module":
        """Evaluation mode: same as train(False)."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> "Module":
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of all parameters (to None, or to zeros in place)."""
        for p in self.parameters():
            p.zero_grad_(set_to_none)

    def apply(self, fn: Callable[["Module"], None]) -> "Module":
        """Call fn on every sub-module (children first) and then on self, as in PyTorch."""
        for m in reversed(list(self.modules())):
            fn(m)
        return self

    def to(self, dtype=None, *args, **kwargs) -> "Module":
        """Cast floating parameters and buffers in place to `dtype` ('cpu' is accepted and ignored)."""
        if dtype is None or (isinstance(dtype, str) and dtype == "cpu"):
            return self
        dtype = np.dtype(dtype)
        for m in self.modules():
            for d in (m._parameters, m._buffers):
                for t in d.values():
                    if t is not None and t.data.dtype.kind == "f" and t.data.dtype != dtype:
                        t.data = t.data.astype(dtype)
                        if t.grad is not None:
                            t.grad = Tensor._make(t.grad.data.astype(dtype), False)
        return self

    def double(self) -> "Module":
        return self.to(np.float64)

    def float(self) -> "Module":
        return self.to(np.float32)

    def cpu(self) -> "Module":
        return self

    # ---------------------------------------------------------------- state dict
    def state_dict(self, destination=None, prefix: str = "", keep_vars: bool = False):
        """OrderedDict of qualified name → Tensor for parameters and persistent buffers.

        The tensors share memory with the module (detached unless keep_vars=True), as in PyTorch.

        >>> list(cr.nn.Linear(2, 3).state_dict())
        ['weight', 'bias']
        """
        out = OrderedDict() if destination is None else destination
        # a module shared under two names appears under both, as in PyTorch
        for mname, mod in self.named_modules(prefix=prefix.rstrip("."), remove_duplicate=False):
            pre = f"{mname}." if mname else ""
            for k, p in mod._parameters.items():
                if p is not None:
                    out[pre + k] = p if keep_vars else p.detach()
            for k, b in mod._buffers.items():
                if b is not None and k not in mod._non_persistent:
                    out[pre + k] = b if keep_vars else b.detach()
        return out

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """Copy values from `state_dict` into this module's parameters and buffers, in place.

        Everything is checked first (missing and unexpected keys when strict; for every entry its
        key, shape, dtype kind and conversion to the target dtype) and nothing is changed if any
        check fails. Returns (missing_keys, unexpected_keys).
        """
        if not hasattr(state_dict, "keys") or not hasattr(state_dict, "__getitem__"):
            raise TypeError(f"load_state_dict: expected a dict of tensors, got "
                            f"{type(state_dict).__name__}")
        own = self.state_dict(keep_vars=True)
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        problems, ready = [], {}
        for k, target in own.items():
            if k in state_dict:
                arr, problem = _converted(k, state_dict[k], target.data)
                if problem:
                    problems.append(problem)
                else:
                    ready[k] = arr
        bad_keys = [k for k in unexpected if not isinstance(k, str)]
        if bad_keys:
            problems.append("keys must be strings, got " + ", ".join(repr(k) for k in bad_keys))
        if strict:
            if missing:
                problems.append("missing keys " + ", ".join(repr(k) for k in missing))
            if unexpected:
                problems.append("unexpected keys " + ", ".join(repr(k) for k in unexpected))
        if problems:
            raise RuntimeError(f"load_state_dict: error(s) loading into {type(self).__name__}: "
                               + "; ".join(problems) + " (nothing was loaded)")
        # every value is converted already: the writes below cannot fail half-way
        with autograd.no_grad():
            for k, arr in ready.items():
                target = own[k]
                if assign:
                    target.data = np.array(arr, dtype=target.data.dtype)
                else:
                    # in place, so optimizers holding these parameters see the new values
                    np.copyto(target.data, arr)
                target._bump()
        return IncompatibleKeys(missing, unexpected)

    # ---------------------------------------------------------------- repr
    def extra_repr(self) -> str:
        """One-line description of this module's own settings, shown inside its repr."""
        return ""

    def __repr__(self):
        lines = []
        extra = self.extra_repr()
        if extra:
            lines.extend(extra.split("\n"))
        for name, mod in self._modules.items():
            child = repr(mod).replace("\n", "\n  ")
            lines.append(f"({name}): {child}")
        main = type(self).__name__ + "("
        if lines:
            if len(lines) == 1 and not self._modules:
                return main + lines[0] + ")"
            main += "\n  " + "\n  ".join(lines) + "\n"
        return main + ")"


def _check_name(who, name):
    if not isinstance(name, str):
        raise TypeError(f"{who}: name must be a string, got {type(name).__name__}")
    if "." in name or name == "":
        raise KeyError(f"{who}: name {name!r} must be non-empty and contain no '.'")


def _converted(key, value, target):
    """(value as an array of target's dtype, None) or (None, why it cannot be loaded into target)."""
    try:
        if not isinstance(value, (Tensor, np.ndarray)) and hasattr(value, "detach"):
            value = value.detach()   # another library's parameter (a PyTorch nn.Parameter)
        arr = value.data if isinstance(value, Tensor) else np.asarray(value)
    except (ValueError, TypeError) as e:
        return None, f"{key!r} cannot be read as an array ({e})"
    if not isinstance(arr, np.ndarray):
        arr = np.asarray(arr)
    if arr.shape != target.shape:
        return None, (f"size mismatch for {key!r}: checkpoint shape {arr.shape}, model shape "
                      f"{tuple(target.shape)}")
    want = target.dtype
    if arr.dtype.kind not in "biuf" or (arr.dtype.kind == "f" and want.kind in "biu"
                                         and not np.all(np.mod(arr, 1) == 0)):
        return None, (f"{key!r} holds dtype {arr.dtype}, which cannot be loaded into a "
                      f"{want} tensor")
    if arr.dtype == want:
        return arr, None
    with np.errstate(all="ignore"):
        return arr.astype(want), None
