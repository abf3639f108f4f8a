"""Optimizer base class: parameter groups, zero_grad, and PyTorch-structured state_dict."""
from __future__ import annotations

import copy
from collections import defaultdict
from typing import Any, Callable, Iterable

import numpy as np

from .. import autograd
from ..tensor import Tensor


class _Required:
    def __repr__(self):
        return "<required parameter>"


required = _Required()


BLOCK = 1 << 16   # elements per chunk of an update: 256 KB of float32 scratch, cache-sized


_FLAG_DEFAULTS = {"foreach": None, "capturable": False, "differentiable": False, "fused": None}


def impl_flags(who: str, given: dict, keys: tuple) -> dict:
    """PyTorch's implementation switches (foreach, fused, capturable, differentiable): accepted and
    kept in the param groups as PyTorch keeps them, since one NumPy update serves them all;
    differentiable=True (a step recorded for autograd) is refused."""
    unknown = sorted(set(given) - set(keys))
    if unknown:
        raise TypeError(f"{who}.__init__() got an unexpected keyword argument {unknown[0]!r}")
    if given.get("differentiable"):
        raise NotImplementedError(f"{who}: differentiable=True is not supported (the update is "
                                  f"not recorded for autograd)")
    return {k: given.get(k, _FLAG_DEFAULTS[k]) for k in keys}


def step_zero():
    """A step counter as PyTorch keeps it: a 0-d float64 tensor when the default dtype is float64,
    float32 otherwise (torch.optim's _get_scalar_dtype)."""
    from ..tensor import get_default_dtype
    dt = np.float64 if get_default_dtype() == np.float64 else np.float32
    return _state_tensor(np.zeros((), dtype=dt))


def _state_tensor(arr):
    return Tensor._make(arr, False)


class Optimizer:
    """Base of all optimizers. Subclasses implement `_update(group, p, grad, state)` on arrays.

    params: an iterable of Tensors, or of dicts {"params": [...], <hyper-parameter>: value} to
    give groups their own settings (e.g. no weight decay on biases).

    >>> opt = cr.optim.SGD([{"params": [w]}, {"params": [b], "weight_decay": 0}], lr=0.1,
    ...                    weight_decay=1e-4)
    """

    def __init__(self, params: Iterable, defaults: dict):
        self.defaults = defaults
        self.state: defaultdict = defaultdict(dict)   # parameter -> its state, as in PyTorch
        self.param_groups: list[dict] = []
        # two scratch rows per dtype shared by all parameters (see _chunks); not part of the state
        self._blocks: dict = {}
        if isinstance(params, Tensor):
            raise TypeError(f"{type(self).__name__}: params must be an iterable of Tensors or dicts, "
                            f"got a single Tensor (wrap it in a list)")
        groups = list(params)
        if not groups:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for g in groups:
            self.add_param_group(g)

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, g in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for k in sorted(g):
                if k != "params":
                    lines.append(f"    {k}: {g[k]}")
        return "\n".join(lines) + "\n)"

    def add_param_group(self, param_group: dict) -> None:
        """Add a group of parameters (a dict with "params" and optional hyper-parameters)."""
        if not isinstance(param_group, dict):
            raise TypeError(f"add_param_group: expected a dict, got {type(param_group).__name__}")
        group = dict(param_group)
        ps = group.get("params")
        if ps is None:
            raise ValueError("add_param_group: the group has no 'params' entry")
        ps = [ps] if isinstance(ps, Tensor) else list(ps)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        for p in ps:
            if not isinstance(p, Tensor):
                raise TypeError(f"{type(self).__name__}: can only optimize Tensors, got "
                                f"{type(p).__name__}")
            if not p.is_leaf:
                raise ValueError(f"{type(self).__name__}: can't optimize a non-leaf Tensor "
                                 f"(shape {p.shape})")
            if id(p) in seen:
                raise ValueError(f"{type(self).__name__}: a parameter (shape {p.shape}) appears in "
                                 f"more than one parameter group")
            seen.add(id(p))
        if len({id(p) for p in ps}) != len(ps):
            raise ValueError(f"{type(self).__name__}: a parameter appears twice in one group")
        group["params"] = ps
        for k, v in self.defaults.items():
            if v is required and k not in group:
                raise ValueError(f"{type(self).__name__}: parameter group didn't specify a value "
                                 f"of required hyper-parameter {k!r}")
            group.setdefault(k, v)
        self.param_groups.append(group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of all parameters (to None, or zeros in place)."""
        for g in self.param_groups:
            for p in g["params"]:
                p.zero_grad_(set_to_none)

    def step(self, closure: Callable[[], Any] | None = None):
        """One update of every parameter that has a gradient. closure: re-evaluates the loss."""
        loss = None
        if closure is not None:
            with autograd.enable_grad():
                loss = closure()
        tracer = autograd.current_tracer()
        if tracer is not None and hasattr(tracer, "optimizer_step"):
            tracer.optimizer_step(self)   # cr.compile: the update as equations on Tensors
            return loss
        # updates work on the arrays (p.data, p.grad.data), so no graph is recorded here
        state = self.state
        for group in self.param_groups:
            for p in group["params"]:
                grad = p.grad
                if grad is None:
                    continue
                g, d = grad.data, p.data
                if g.shape != d.shape:
                    raise ValueError(f"{type(self).__name__}.step: gradient shape {g.shape} "
                                     f"does not match parameter shape {d.shape}")
                self._update(group, d, g, state[p])
                autograd.bump_version(p)
        return loss

    def _update(self, group: dict, p: np.ndarray, g: np.ndarray, state: dict) -> None:
        """Update the array p in place from its gradient g; state: this parameter's state dict."""
        raise NotImplementedError

    def _chunks(self, p, g, *arrays, weight_decay: float = 0.0, maximize: bool = False):
        """Yield (p, d, *arrays, s) chunk by chunk: matching views of ≤ BLOCK elements.

        d is the update direction g (negated when maximize, plus weight_decay·p), s a scratch
        array shaped like the chunk. Both scratch arrays are views of two rows shared by all
        parameters, so a step allocates nothing weight-sized beyond the optimizer's state.
        Chunks are slices along the first axis, which are views for any strides.
        """
        n = p.size
        rows = p.shape[0] if p.ndim else 1
        per_row = n // rows if rows else 0
        step = max(1, BLOCK // per_row) if per_row else rows or 1
        block = self._block(p.dtype, min(n, step * per_row) if p.ndim else 1)
        for i in range(0, max(rows, 1), step):
            if p.ndim:
                sl = slice(i, i + step)
                pc, gc, cs = p[sl], g[sl], [a[sl] for a in arrays]
            else:
                pc, gc, cs = p, g, list(arrays)
            m = pc.size
            s = block[0, :m].reshape(pc.shape)
            if weight_decay or maximize:
                d = block[1, :m].reshape(pc.shape)
                if weight_decay:
                    np.multiply(pc, weight_decay, out=d)
                    if maximize:
                        d -= gc
                    else:
                        d += gc
                else:
                    np.negative(gc, out=d)
            else:
                d = gc
            yield (pc, d, *cs, s)

    def _block(self, dtype, n: int) -> np.ndarray:
        """Two scratch rows of at least n elements of dtype, grown on demand and kept."""
        blk = self._blocks.get(dtype)
        if blk is None or blk.shape[1] < n:
            blk = self._blocks[dtype] = np.empty((2, n), dtype)
        return blk

    # ---------------------------------------------------------------- state dict
    def state_dict(self) -> dict:
        """{"state": {index: {...}}, "param_groups": [{..., "params": [indices]}]}, as in PyTorch."""
        index, groups = {}, []
        for g in self.param_groups:
            packed = {k: v for k, v in g.items() if k != "params"}
            ids = []
            for p in g["params"]:
                index.setdefault(id(p), len(index))
                ids.append(index[id(p)])
            packed["params"] = ids
            groups.append(packed)
        state = {}
        for g in self.param_groups:
            for p in g["params"]:
                if self.state.get(p):
                    state[index[id(p)]] = self.state[p]
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Load a state_dict from `state_dict()`. Everything (group and parameter counts, indices,
        every state tensor's dtype and shape, hyper-parameter types) is checked before anything
        changes: a refused state dict leaves the optimizer as it was."""
        if not isinstance(state_dict, dict):
            raise ValueError(f"load_state_dict: expected a dict with 'state' and 'param_groups', "
                             f"got {type(state_dict).__name__}")
        groups = state_dict.get("param_groups")
        if groups is None or "state" not in state_dict:
            raise ValueError("load_state_dict: expected a dict with 'state' and 'param_groups'")
        if not isinstance(groups, (list, tuple)) or not isinstance(state_dict["state"], dict):
            raise ValueError("load_state_dict: 'param_groups' must be a list and 'state' a dict")
        if len(groups) != len(self.param_groups):
            raise ValueError(f"load_state_dict: loaded state dict has {len(groups)} parameter "
                             f"groups, the optimizer has {len(self.param_groups)}")
        new_groups = [_checked_group(i, saved, own)
                      for i, (saved, own) in enumerate(zip(groups, self.param_groups))]
        id_map = {}
        for saved, own in zip(groups, self.param_groups):
            id_map.update(zip(saved["params"], own["params"]))
        new_state = defaultdict(dict)
        for k, st in state_dict["state"].items():
            try:
                key = int(k)
            except (TypeError, ValueError):
                raise ValueError(f"load_state_dict: state key {k!r} is not a parameter "
                                 f"index") from None
            if key not in id_map:
                raise ValueError(f"load_state_dict: state for parameter index {k} that is in no "
                                 f"group")
            if not isinstance(st, dict):
                raise ValueError(f"load_state_dict: state of parameter {k} must be a dict, got "
                                 f"{type(st).__name__}")
            new_state[id_map[key]] = {name: _checked_state(k, name, v, id_map[key])
                                      for name, v in st.items()}
        # all checked: from here on nothing can fail half-way
        self.state = new_state
        for new, own in zip(new_groups, self.param_groups):
            own.update(new)


def _checked_group(i, saved, own) -> dict:
    """The hyper-parameters of a saved group, checked against the optimizer's own group."""
    if not isinstance(saved, dict) or not isinstance(saved.get("params"), (list, tuple)):
        raise ValueError(f"load_state_dict: parameter group {i} must be a dict with a 'params' "
                         f"list")
    if len(saved["params"]) != len(own["params"]):
        raise ValueError(f"load_state_dict: parameter group {i} has {len(saved['params'])} "
                         f"parameters in the state dict, {len(own['params'])} in the optimizer")
    if not all(isinstance(p, (int, np.integer)) and not isinstance(p, bool)
               for p in saved["params"]):
        raise ValueError(f"load_state_dict: parameter group {i}: 'params' must be indices")
    out = {}
    for k, v in saved.items():
        if k == "params":
            continue
        mine = own.get(k)
        if _is_number(mine) and not _is_number(v):
            raise ValueError(f"load_state_dict: parameter group {i}: {k!r} must be a number like "
                             f"{mine!r}, got {v!r}")
        if isinstance(mine, (tuple, list)) and all(_is_number(m) for m in mine) and not (
                isinstance(v, (tuple, list)) and len(v) == len(mine)
                and all(_is_number(x) for x in v)):
            raise ValueError(f"load_state_dict: parameter group {i}: {k!r} must be "
                             f"{len(mine)} numbers like {mine!r}, got {v!r}")
        out[k] = copy.deepcopy(v)
    return out


def _is_number(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


_SCALAR_STATE = ("step", "mu_product")   # 0-d state entries (NAdam's product of momenta)


def _checked_state(k, name, v, p):
    """A state entry (e.g. exp_avg, step) as the optimizer will hold it, or a ValueError."""
    if not isinstance(v, (Tensor, np.ndarray)):
        if name == "step" and _is_number(v):   # older PyTorch kept the step count as a number
            v = np.asarray(v, dtype=np.float32)
        elif hasattr(v, "__array__") and not isinstance(v, (str, bytes, dict, list, tuple)):
            # another library's tensor (a PyTorch state_dict): its values, never the object,
            # since the in-place updates write through NumPy
            try:
                v = np.asarray(v.detach() if hasattr(v, "detach") else v)
            except (TypeError, ValueError, RuntimeError) as e:
                raise ValueError(f"load_state_dict: state {name!r} of parameter {k} cannot be "
                                 f"read as an array ({e})") from None
        else:
            return copy.deepcopy(v)
    arr = np.array(v.data if isinstance(v, Tensor) else v)
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"load_state_dict: state {name!r} of parameter {k} has dtype "
                         f"{arr.dtype}, expected numbers")
    if name not in _SCALAR_STATE and arr.dtype.kind == "f":
        if arr.shape != p.data.shape:
            raise ValueError(f"load_state_dict: state {name!r} of parameter {k} has shape "
                             f"{arr.shape}, the parameter {p.data.shape}")
        arr = arr.astype(p.data.dtype, copy=False)
    return _state_tensor(arr)
