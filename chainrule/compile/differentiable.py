"""Outputs that still need gradients: `cr.compile(model)` called with grad on, backward outside.

A compiled step normally holds its own backward (`loss.backward()` inside). When it returns
tensors that require grad and ran no backward itself, as `torch.compile(model)` is used, the
trace goes on into the vjp of those outputs, with one cotangent input per output, and the
equations are split where the cotangents begin: the *forward* part (everything that does not
depend on a cotangent: the outputs, the values the vjp reads — its residuals —, buffer updates
and random draws) and the *backward* part (cotangents and residuals in, gradients out), each
compiled on its own. A call runs the forward code and gives each output one node; the node's
backward runs the backward code on the residuals that call kept, and the engine sends the
gradients on to the parameters, to the arguments and beyond them, as for any op.
"""
from __future__ import annotations

import numpy as np

from .. import autograd
from ..grad_mode import enable_grad
from ..program import Program, Var
from ..tensor_base import Tensor

_make = Tensor._make


def needs_backward(tracer, out_tensors) -> bool:
    """The step returns tensors that require grad and wrote no `.grad` (no backward inside)."""
    return autograd.is_grad_enabled() and not tracer.grad_writes and \
        any(t.requires_grad for t in out_tensors)


def record_backward(tracer, outs, arg_tensors, first_k):
    """While still tracing: the vjp of the outputs that require grad, with cotangent inputs
    (argument slots first_k, first_k + 1, ...) -> the Split of the traced equations."""
    diff = [k for k, t in enumerate(outs) if t.requires_grad]
    gs = []
    for j, k in enumerate(diff):
        t = outs[k]
        g = _make(np.ones(t.data.shape, t.data.dtype), False)
        tracer.arg(g, f"cotangent{j}", first_k + j)
        gs.append(g)
    leaves = [t for _, t in tracer.consts if isinstance(t, Tensor) and t.requires_grad]
    wanted = [t for t in arg_tensors if t.requires_grad] + leaves
    grads = autograd.grad([outs[k] for k in diff], wanted, gs, retain_graph=True,
                          allow_unused=True)
    return Split(tracer, outs, diff, gs, arg_tensors, leaves, grads)


class Split:
    """The traced equations cut where the cotangents begin (see the module docstring)."""

    def __init__(self, tracer, outs, diff, gs, arg_tensors, leaves, grads):
        var_of = tracer.var_of
        self.diff, self.leaves = diff, leaves
        self.arg_grad = [t.requires_grad for t in arg_tensors]
        g_vars = [var_of(g) for g in gs]
        self.n_args = len(arg_tensors)
        arg_vars = tracer.inputs[:self.n_args]
        late = {id(v) for v in g_vars}
        fwd, bwd = [], []
        for e in tracer.eqns:
            if any(isinstance(x, Var) and id(x) in late for x in e.inputs):
                late.add(id(e.out))
                bwd.append(e)
            else:
                fwd.append(e)
        self.grad_vars = [None if g is None else var_of(g) for g in grads]
        consts = {id(v) for v, _ in tracer.consts}
        arg_pos = {id(v): k for k, v in enumerate(arg_vars)}
        seen, residuals = set(), []
        for v in [x for e in bwd for x in e.inputs] + self.grad_vars:
            if isinstance(v, Var) and id(v) not in late and id(v) not in consts \
                    and id(v) not in seen:
                seen.add(id(v))
                residuals.append(v)
        # residuals that are arguments are taken from the call; the others are forward outputs
        self.res_args = [arg_pos[id(v)] for v in residuals if id(v) in arg_pos]
        self.res_outs = [v for v in residuals if id(v) not in arg_pos]
        self.res_inputs = [v for v in residuals if id(v) in arg_pos] + self.res_outs
        self.forward = _Part(tracer, arg_vars, fwd, tracer.guards, tracer.writes, tracer.inits)
        self.backward = _Part(tracer, self.res_inputs + g_vars, bwd, [], {}, [])
        self.out_vars = [var_of(t) for t in outs]
        self.g_shapes = [self.out_vars[k].shape for k in diff]
        self.g_dtypes = [np.dtype(self.out_vars[k].dtype) for k in diff]


class _Part:
    """One half of a split trace, seen by `Entry` as if it were the whole tracer."""

    def __init__(self, tracer, inputs, eqns, guards, writes, inits):
        self._tracer = tracer
        self.inputs, self.eqns = inputs, eqns
        self.guards, self.writes, self.inits = guards, writes, inits
        self.grad_writes = {}
        self.sources = tracer.sources

    def var_of(self, t):
        return t if isinstance(t, Var) else self._tracer.var_of(t)

    def program(self, outputs, examples):
        t = self._tracer
        t.program(outputs, examples)   # names every Var once, for both halves alike
        return Program(self.inputs, t.consts, self.eqns, outputs, examples, t.aliases)


class Differentiable:
    """One compiled version whose outputs get a backward: the forward and backward Entries."""

    def __init__(self, compiled, split, call_args, out_tree, name, doc, options):
        from .build import Entry
        self.compiled, self.split = compiled, split
        # the call's other arguments are part of its signature: fixed for this version
        self.template = [None if isinstance(a, Tensor) else a for a in call_args]
        n_user = len(split.out_vars)
        self.entry = Entry(split.forward, split.out_vars + split.res_outs, out_tree, name, doc,
                           options)
        self.entry.single = out_tree == ("t", 0)
        present = [v for v in split.grad_vars if v is not None]
        slots = iter(range(len(present)))
        tree = (tuple, [("c", None) if v is None else ("t", next(slots))
                        for v in split.grad_vars])
        # per node input (tensor arguments, then leaves): its position among the backward
        # code's outputs, or None (no gradient)
        got = iter(tree[1])
        wanted = [next(got) if need else ("c", None) for need in split.arg_grad] + \
            [next(got) for _ in split.leaves]
        self.slots = [w[1] if w[0] == "t" else None for w in wanted]
        self.backward = Entry(split.backward, present, tree, f"{name}_backward",
                              doc.replace("from", "(backward) from", 1), options)
        self.backward.single = False
        self.n_user = n_user
        self.single, self.out_tree = self.entry.single, out_tree
        fn = compiled.fn
        self.name = f"compiled {getattr(fn, '__name__', type(fn).__name__)}"   # the nodes' name

    def run(self, *tensors):
        outs = self.entry.run(*tensors)
        if outs is None:
            return None
        n = self.n_user
        s = self.split
        residuals = [tensors[k] for k in s.res_args] + list(outs[n:])
        call = _Call(self, tensors, residuals)
        inputs = tuple(tensors) + tuple(s.leaves)
        arrays = [t.data for t in inputs]
        res = list(outs[:n])
        for j, k in enumerate(s.diff):
            res[k] = autograd.record(_Output(call, j), inputs, {}, arrays, res[k].data)
        return tuple(res)

    def vjp(self, call, j, g):
        """Gradients of (tensor arguments..., leaves...) of differentiable output j."""
        s = self.split
        if isinstance(g, Tensor):   # create_graph: the forward recomputed eagerly, recorded
            return self._recorded_vjp(call, j, g)
        if len(s.diff) == 1:
            gs = (_make(g if g.dtype == s.g_dtypes[0] else g.astype(s.g_dtypes[0]), False),)
        else:   # the other outputs' cotangents are zero: their nodes add their own parts
            gs = [_make(np.asarray(g, dt) if i == j else np.zeros(shape, dt), False)
                  for i, (shape, dt) in enumerate(zip(s.g_shapes, s.g_dtypes))]
        # the backward code's planned buffers are shared by every call: one run at a time (the
        # engine runs rules with grad mode off already)
        with self.compiled._lock:
            outs = self.backward.run(*call.residuals, *gs)
        # one array may be two inputs' gradient (common subexpressions), and the engine may keep
        # each as that input's .grad: a repeated one is copied
        arrays = [o.data for o in outs]
        if len(set(map(id, arrays))) < len(arrays):
            seen = set()
            for i, a in enumerate(arrays):
                if id(a) in seen:
                    arrays[i] = a.copy()
                seen.add(id(arrays[i]))
        return [arrays[k] if k is not None else None for k in self.slots]

    def _recorded_vjp(self, call, j, g):
        s = self.split
        if self.entry.written or self.entry.uses_rng:
            raise RuntimeError(f"{self.name}: create_graph through a compiled forward that "
                               f"updates buffers or draws random numbers cannot recompute it; "
                               f"call the model eagerly for higher-order gradients")
        it = iter(t.detach().requires_grad_() if need else t
                  for t, need in zip(call.tensors, s.arg_grad))
        args = [next(it) if a is None else a for a in self.template]
        with enable_grad():
            from . import _flatten
            outs = []
            _flatten(self.compiled.fn(*args), outs)
            wanted = [a for a, need in zip([a for a in args if isinstance(a, Tensor)],
                                           s.arg_grad) if need] + list(s.leaves)
            got = iter(autograd.grad(outs[s.diff[j]], wanted, g, create_graph=True,
                                     allow_unused=True))
        return [next(got) if need else None for need in s.arg_grad] + \
            [next(got) for _ in s.leaves]


class _Call:
    """What one forward call keeps for its backward: its tensors and residual values."""
    __slots__ = ("owner", "tensors", "residuals")

    def __init__(self, owner, tensors, residuals):
        self.owner, self.tensors, self.residuals = owner, tensors, residuals


class _Output:
    """The node of one compiled output: its vjp runs the compiled backward."""
    keeps = None
    constant_output = False
    saves_ans = saves_inputs = residual = False

    def __init__(self, call, j):
        self.call, self.j = call, j
        self.name = call.owner.name

    def vjp(self, g, ans, needs, *inputs):
        return self.call.owner.vjp(self.call, self.j, g)
