"""From a traced step to a runnable entry: optimize the equations, generate source, run it.

An `Entry` is one compiled version of a step (one signature and one set of guards). Running it
reads every captured tensor's current array through its source, calls the generated function,
and copies the write-backs into the tensors' arrays (parameters, optimizer state, buffers,
`.grad`), so models, checkpoints and eager code see what eager execution would have left.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import sys

import numpy as np

from .. import autograd
from ..program import Program, Var
from ..tensor_base import Tensor
from . import codegen, passes, plan
from .trace import RANDOM, describe, resolve


class Retrace(Exception):
    """A captured tensor is gone or changed shape/dtype: trace again."""


class Entry:
    def __init__(self, tracer, out_tensors, out_tree, name, doc, options):
        self.out_tree = out_tree
        self.guards = tracer.guards
        self.inits = tracer.inits
        var_of = tracer.var_of
        out_vars = [var_of(t) for t in out_tensors]
        writes = [(src, v) for root, src, v in tracer.writes.values() if v is not root]
        gwrites = list(tracer.grad_writes.values())
        roots = out_vars + [v for _, v in writes] + [v for _, v in gwrites if v is not None]
        full = tracer.program(roots, [])
        self.program_traced = full
        eqns, lookup = passes.optimize(list(full.eqns), roots)
        roots = [lookup(v) for v in roots]
        used = {id(x) for e in eqns for x in e.inputs if isinstance(x, Var)}
        used |= {id(v) for v in roots if isinstance(v, Var)}
        self.args = [v for v in full.inputs]
        self.consts = [(v, tracer.sources[id(v)]) for v, _ in full.consts if id(v) in used]
        self.arg_sources = [tracer.sources[id(v)][1] for v in self.args]
        self.uses_rng = any(e.prim is RANDOM for e in eqns)
        self.program = Program(self.args, [(v, t) for v, t in full.consts if id(v) in used],
                               eqns, roots, [])
        self.n_out = len(out_vars)
        k = self.n_out
        self.writes = [(src, k + i) for i, (src, _) in enumerate(writes)]
        k += len(writes)
        self.grad_writes = []
        for p, v in gwrites:
            if v is None:
                self.grad_writes.append((p, None))
            else:
                self.grad_writes.append((p, k))
                k += 1
        params = [v.name for v in self.args] + [v.name for v, _ in self.consts]
        if self.uses_rng:
            params.append("rng")
        src = codegen.Source(name)
        options = dict(options, n_out=self.n_out,
                       writes={id(roots[k]): lookup(root) for k, (root, _, _) in
                               zip(range(self.n_out, self.n_out + len(writes)), [
                                   (r, s_, v) for r, s_, v in tracer.writes.values()
                                   if v is not r]) if isinstance(roots[k], Var)})
        returns = plan.emit(src, eqns, roots, self.args + [v for v, _ in self.consts], options)
        self.inplace = {k for src_, k in self.writes if id(roots[k]) in src.inplace}
        n_args = len(self.args)
        self.contiguous = [n_args + i for i, (v, _) in enumerate(self.consts)
                           if id(v) in src.contiguous]
        self.source = src.text(params, returns, doc)
        self.fused = src.fused
        self.fn = load(self.source, name, src.namespace, bool(src.kernels))
        self._input_ids = None

    def matches(self) -> bool:
        return all(check(kind, obj) == expected for kind, obj, expected in self.guards)

    def run(self, tensors):
        for opt, p, key, shape, dtype in self.inits:
            st = opt.state[p]
            if key not in st:
                st[key] = Tensor._make(np.zeros(shape, dtype), False)
        arrays = [t.data for t in tensors]
        for v, src in self.consts:
            t = resolve(src, tensors)
            if t is None or t.data.shape != v.shape or t.data.dtype != v.dtype:
                raise Retrace(describe(src))
            arrays.append(t.data)
        for i in self.contiguous:   # a kernel updates these through a flat view
            if not arrays[i].flags.c_contiguous:
                raise Retrace("a non-contiguous array updated in place")
        if self.uses_rng:
            from ..factories import default_generator
            arrays.append(default_generator())
        outs = self.fn(*arrays)
        if self.writes or self.grad_writes:
            inputs = {id(a) for a in arrays}
            outs = [o if k in self.inplace or not (id(o) in inputs or getattr(o, "base", None)
                                                    is not None and id(o.base) in inputs)
                    else np.array(o) for k, o in enumerate(outs)]
        for src, k in self.writes:
            t = resolve(src, tensors)
            if k not in self.inplace:
                np.copyto(t.data, outs[k], casting="unsafe")
            autograd.bump_version(t)
        for p, k in self.grad_writes:
            if k is None:
                p._grad = None
                continue
            val = outs[k]
            g = p._grad
            if g is not None and g.grad_fn is None and g.data.shape == p.data.shape \
                    and g.data.flags.writeable:
                np.copyto(g.data, val, casting="unsafe")
            else:
                p._grad = Tensor._make(np.array(val, dtype=p.data.dtype), False)
        return [Tensor._make(np.asarray(o), False) for o in outs[:self.n_out]]


def cache_dir() -> str:
    """Where generated modules with numba kernels are kept (numba caches their machine code
    next to them): $CHAINRULE_CACHE, else ~/.cache/chainrule/compile."""
    d = os.environ.get("CHAINRULE_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "chainrule", "compile")
    os.makedirs(d, exist_ok=True)
    return d


def load(source, name, namespace, kernels):
    """The step function of generated source: exec'd, or (with numba kernels, which cache only
    from files) imported from a file named after the source's hash."""
    if not kernels:
        ns = dict(namespace)
        exec(compile(source, f"<cr.compile {name}>", "exec"), ns)   # noqa: S102 - generated
        return ns[name]
    digest = hashlib.sha256(source.encode()).hexdigest()[:20]
    path = os.path.join(cache_dir(), f"step_{digest}.py")
    if not os.path.exists(path):
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            f.write(source)
        os.replace(tmp, path)   # atomic: concurrent processes see a whole file
    spec = importlib.util.spec_from_file_location(f"_cr_step_{digest}", path)
    mod = sys.modules.get(spec.name)
    if mod is None:
        mod = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = mod   # numba's cache finds a kernel's globals by module name
        spec.loader.exec_module(mod)
    for k, v in namespace.items():
        if k != "np":
            setattr(mod, k, v)
    return getattr(mod, name)


def check(kind, obj):
    """The current value of one guard."""
    if kind == "training":
        return tuple(m.training for m in obj)
    if kind == "grads":
        return tuple(p._grad is None for p in obj)
    if kind == "state":
        from .optim import state_keys
        return state_keys(obj)
    if kind == "hyper":
        from .optim import hyper
        return hyper(obj)
    if kind == "params":
        return tuple(id(p) for m in obj for p in m._parameters.values())
    raise ValueError(kind)
