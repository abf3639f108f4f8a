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


def _state_tensor(arr):
    return Tensor._make(arr, False)


class Optimizer:
    """Base of all optimizers. Subclasses implement `_update(group, p, grad, state, scratch)`.

    params: an iterable of Tensors, or of dicts {"params": [...], <hyper-parameter>: value} to
    give groups their own settings (e.g. no weight decay on biases).

    >>> opt = cr.optim.SGD([{"params": [w]}, {"params": [b], "weight_decay": 0}], lr=0.1,
    ...                    weight_decay=1e-4)
    """

    def __init__(self, params: Iterable, defaults: dict):
        self.defaults = defaults
        self.state: defaultdict = defaultdict(dict)   # parameter -> its state, as in PyTorch
        self.param_groups: list[dict] = []
        # per-parameter work arrays reused every step, so steps allocate no weight-sized
        # temporaries; not part of the state (state_dict matches PyTorch's)
        self._scratch: dict = {}
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
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                elif p.grad.grad_fn is not None or not p.grad.data.flags.writeable:
                    p.grad = Tensor._make(np.zeros_like(p.data), False)
                else:
                    p.grad.data[...] = 0

    def step(self, closure: Callable[[], Any] | None = None):
        """One update of every parameter that has a gradient. closure: re-evaluates the loss."""
        loss = None
        if closure is not None:
            with autograd.enable_grad():
                loss = closure()
        with autograd.no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    g = p.grad.data
                    if g.shape != p.data.shape:
                        raise ValueError(f"{type(self).__name__}.step: gradient shape {g.shape} "
                                         f"does not match parameter shape {p.data.shape}")
                    state = self.state[p]
                    scratch = self._scratch.setdefault(p, {})
                    self._update(group, p.data, g, state, scratch)
                    p._bump()
        return loss

    def _update(self, group, p, g, state, scratch):
        raise NotImplementedError

    @staticmethod
    def _work(scratch, key, like):
        """A reusable array shaped like `like` (allocated once per parameter)."""
        buf = scratch.get(key)
        if buf is None or buf.shape != like.shape or buf.dtype != like.dtype:
            buf = scratch[key] = np.empty_like(like)
        return buf

    def _direction(self, group, p, g, scratch, key="d"):
        """The gradient after `maximize` and L2 `weight_decay` (g + wd·p), without temporaries."""
        wd, maximize = group.get("weight_decay", 0), group.get("maximize", False)
        if not wd and not maximize:
            return g
        d = self._work(scratch, key, p)
        if wd:
            np.multiply(p, wd, out=d)
            if maximize:
                d -= g
            else:
                d += g
        else:
            np.negative(g, out=d)
        return d

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
        """Load a state_dict from `state_dict()`; validates group and parameter counts first."""
        groups = state_dict.get("param_groups")
        if groups is None or "state" not in state_dict:
            raise ValueError("load_state_dict: expected a dict with 'state' and 'param_groups'")
        if len(groups) != len(self.param_groups):
            raise ValueError(f"load_state_dict: loaded state dict has {len(groups)} parameter "
                             f"groups, the optimizer has {len(self.param_groups)}")
        for i, (saved, own) in enumerate(zip(groups, self.param_groups)):
            if len(saved["params"]) != len(own["params"]):
                raise ValueError(f"load_state_dict: parameter group {i} has {len(saved['params'])} "
                                 f"parameters in the state dict, {len(own['params'])} in the "
                                 f"optimizer")
        id_map = {}
        for saved, own in zip(groups, self.param_groups):
            id_map.update(zip(saved["params"], own["params"]))
        saved_state = state_dict["state"]
        new_state = defaultdict(dict)
        for k, st in saved_state.items():
            key = int(k)
            if key not in id_map:
                raise ValueError(f"load_state_dict: state for parameter index {k} that is in no group")
            p = id_map[key]
            entry = {}
            for name, v in st.items():
                if isinstance(v, (Tensor, np.ndarray)):
                    arr = np.array(v.data if isinstance(v, Tensor) else v)
                    if name != "step" and arr.dtype.kind == "f":
                        if arr.shape != p.data.shape:
                            raise ValueError(f"load_state_dict: state {name!r} of parameter {k} has "
                                             f"shape {arr.shape}, the parameter {p.data.shape}")
                        arr = arr.astype(p.data.dtype, copy=False)
                    entry[name] = _state_tensor(arr)
                else:
                    entry[name] = copy.deepcopy(v)
            new_state[p] = entry
        self.state = new_state
        for saved, own in zip(groups, self.param_groups):
            for k, v in saved.items():
                if k != "params":
                    own[k] = copy.deepcopy(v)
