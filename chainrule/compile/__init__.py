"""`cr.compile(fn)`: a whole step (forward, backward, optimizer update) traced once per signature
into readable NumPy code, then run as that code.

>>> @cr.compile
... def step(x, y):
...     loss = F.cross_entropy(model(x), y)
...     opt.zero_grad(); loss.backward(); opt.step()
...     return loss
>>> step(X, Y); print(step.source)

Semantics are eager's: parameters, optimizer state, buffers and `.grad` are read from their
current arrays at each call and written back in place. Python side effects run only while
tracing (as in `jax.jit`); reading a traced value in Python (`.item()`, `bool(t)`, `.numpy()`)
raises `GraphBreak` naming the line, or with `fallback="eager"` runs the step eagerly.

`cr.compile(model)` alone, with the backward outside (as `torch.compile(model)` is used), returns
outputs that need gradients: one trace is split into forward and backward code (differentiable.py),
and the compiled object reads the model's attributes through (`.parameters()`, `.eval()`).
"""
from __future__ import annotations

import functools
import gc
import threading
import types
import warnings

import numpy as np

from .. import autograd
from .. import tensor_base
from ..program import arg_names
from ..tensor_base import Tensor, as_array
from . import differentiable
from .build import Entry, Retrace
from .trace import GraphBreak, StepTracer, find_objects

__all__ = ["compile", "CompiledFunction", "GraphBreak"]


def _read_hook(t, what):
    tracer = autograd.current_tracer()
    if isinstance(tracer, StepTracer):
        tracer.read(t, what)


tensor_base._read_hook = _read_hook


def _flatten(out, tensors):
    """The output's structure, with Tensors replaced by their index in `tensors`."""
    if isinstance(out, Tensor):
        tensors.append(out)
        return ("t", len(tensors) - 1)
    if isinstance(out, (tuple, list)):
        return (type(out), [_flatten(o, tensors) for o in out])
    if isinstance(out, dict):
        return (dict, {k: _flatten(v, tensors) for k, v in out.items()})
    return ("c", out)


def _unflatten(tree, values):
    kind, body = tree
    if kind == "t":
        return values[body]
    if kind == "c":
        return body
    if kind is dict:
        return {k: _unflatten(v, values) for k, v in body.items()}
    return kind(_unflatten(v, values) for v in body)


class CompiledFunction:
    """What `cr.compile(fn)` returns: call it like fn. `.source` is the generated code of the
    last version run, `.program` its optimized Program, `.explain()` a readable summary."""

    def __init__(self, fn, fallback=None, cache_size=8, fuse=None, buffers=True):
        if fallback not in (None, "eager"):
            raise ValueError(f"cr.compile: fallback must be None or 'eager', got {fallback!r}")
        self.fn = fn
        self.fallback = fallback
        self.cache_size = cache_size
        self.options = {"fuse": fuse, "buffers": buffers}
        self.cache = {}          # key -> [Entry or "eager"]
        self.traces = 0
        self.last = None
        self._warned = False
        # one call at a time: a version's planned buffers and kernels' scratch are shared by its
        # calls (reentrant, so a step may call itself)
        self._lock = threading.RLock()
        if isinstance(fn, types.FunctionType):
            functools.update_wrapper(self, fn)
        else:   # a Module (or other callable object): its attributes are read through, live
            self.__wrapped__ = fn

    def __getattr__(self, name):
        # only for names CompiledFunction lacks: cr.compile(model).parameters(), .eval(),
        # .state_dict() reach the model, as with torch.compile
        fn = self.__dict__.get("fn")
        if fn is None or name.startswith("__"):
            raise AttributeError(name)
        return fn if name == "_orig_mod" else getattr(fn, name)

    # ---------------------------------------------------------------- calling

    def _key(self, args):
        parts = [autograd.is_grad_enabled()]
        for a in args:
            if isinstance(a, Tensor):
                parts.append(("T", a.data.shape, a.data.dtype.str, a.requires_grad))
            elif isinstance(a, np.ndarray):
                parts.append(("A", a.shape, a.dtype.str))
            else:
                try:
                    hash(a)
                    parts.append(("S", type(a), a))
                except TypeError:
                    parts.append(("O", id(a)))
        return tuple(parts)

    def __call__(self, *args, **kwargs):
        if kwargs:   # keyword arguments: a compiled function per set of names, taking them last
            names = tuple(sorted(kwargs))
            return self._keywords(names)(*args, *(kwargs[k] for k in names))
        with self._lock:
            return self._call(args)

    def _keywords(self, names):
        kw = self.__dict__.setdefault("_kw", {})
        f = kw.get(names)
        if f is None:
            fn, n = self.fn, len(names)

            def with_keywords(*args):
                return fn(*args[:-n], **dict(zip(names, args[-n:])))
            with_keywords.__name__ = _name(fn)
            with_keywords.__qualname__ = _label(fn)
            f = kw[names] = CompiledFunction(with_keywords, self.fallback,
                                                     self.cache_size, self.options["fuse"],
                                                     self.options["buffers"])
            f.__wrapped__ = fn
        self.last_keywords = f
        return f

    def _call(self, args):
        key = self._key(args) if args else (autograd.is_grad_enabled(),)
        entries = self.cache.get(key)
        if entries:
            tensors = [a if isinstance(a, Tensor) else Tensor._make(as_array(a), False)
                       for a in args if isinstance(a, (Tensor, np.ndarray))] if args else ()
            for entry in entries:
                if type(entry) is str:   # "eager": this signature broke the graph
                    return self.fn(*args)
                try:
                    outs = entry.run(*tensors)   # None: a guard does not hold for this version
                except Retrace as why:
                    entries.remove(entry)
                    if "non-contiguous" in str(why):
                        self.options["inplace"] = False
                    break
                if outs is not None:
                    self.last = getattr(entry, "entry", entry)   # a Differentiable wraps one
                    for opt in self.last.epilogue:   # optimizers without a traced update
                        opt.step()
                    return outs[0] if entry.single else _unflatten(entry.out_tree, outs)
        return self._trace(key, args)

    def _trace(self, key, args):
        # a trace makes tens of thousands of objects (tensors, nodes, equations) and frees none
        # of them until it ends: the cyclic collector would walk them again and again (W5's
        # first call: 0.26 -> 0.14 s median, one run); it runs once the trace is built
        collecting = gc.isenabled()
        gc.disable()
        try:
            return self._trace_now(key, args)
        finally:
            if collecting:
                gc.enable()

    def _trace_now(self, key, args):
        self.traces += 1
        if self.traces > self.cache_size and not self._warned:
            self._warned = True
            warnings.warn(f"cr.compile: {_label(self.fn)} was traced {self.traces} times (cache "
                          f"size {self.cache_size}); shapes, dtypes, flags or hyper-parameters "
                          f"keep changing — each change traces again", RuntimeWarning,
                          stacklevel=5)
        entries = self.cache.setdefault(key, [])
        if len(entries) >= self.cache_size:
            entries.pop(0)
        reachable = {}
        modules, opts = find_objects(self.fn, args, tensors=reachable)
        params = {}
        for m in modules:
            for p in m._parameters.values():
                if p is not None:
                    params[id(p)] = p
        for o in opts:
            for g in o.param_groups:
                for p in g["params"]:
                    params[id(p)] = p
        names = arg_names(self.fn, len(args))
        tracer = StepTracer(fallback=self.fallback == "eager")
        tracer.reachable = reachable
        call_args, k = [], 0
        for nm, a in zip(names, args):
            if isinstance(a, (Tensor, np.ndarray)):
                t = a if isinstance(a, Tensor) else Tensor._make(as_array(a), False)
                if t.requires_grad and t.grad_fn is None:
                    params[id(t)] = t
                tracer.arg(t, t.name or nm, k)
                call_args.append(t)
                k += 1
            else:
                call_args.append(a)
        tracer.start(list(params.values()))
        tracer.guards = [("training", modules, tuple(m.training for m in modules)),
                         ("params", [m for m in modules if m._parameters],
                          tuple(id(p) for m in modules for p in m._parameters.values()))]
        prev = autograd.set_tracer(tracer)
        split = None
        try:
            out = self.fn(*call_args)
            tensors = []
            tree = _flatten(out, tensors)
            if tracer.broken is None and differentiable.needs_backward(tracer, tensors):
                # backward outside (cr.compile(model)): trace on into the outputs' vjp
                split = differentiable.record_backward(
                    tracer, tensors, [a for a in call_args if isinstance(a, Tensor)], k)
        finally:
            autograd.set_tracer(prev)
        if tracer.broken is not None:
            warnings.warn(tracer.broken + "; running this signature eagerly from now on",
                          RuntimeWarning, stacklevel=5)
            entries.append("eager")
            return out
        # guard only the .grad slots the step looked at before writing them (zero_grad first:
        # none), so the first call's trace serves the later calls too
        seen = [(p, g is None) for p, g in tracer.grad_init.values() if id(p) in tracer.observed]
        tracer.guards.append(("grads", [p for p, _ in seen], tuple(n for _, n in seen)))
        doc = f"Generated by cr.compile from {_label(self.fn)}: " \
              f"one NumPy statement per line."
        options = dict(self.options)
        options["viewing"] = tracer.viewing
        if options["fuse"] in (None, "auto"):   # the kernels that pay; numba's only if installed
            from .fuse import available
            options["fuse"], options["numba"] = "auto", available()
        if split is not None:
            # the trace ran eagerly with the graph recorded: its outputs already have their nodes
            entry = differentiable.Differentiable(self, split, call_args, tree, _name(self.fn),
                                                  doc, options)
            entries.append(entry)
            self.last = entry.entry
            return out
        entry = Entry(tracer, tensors, tree, _name(self.fn), doc, options)
        entry.single = tree == ("t", 0)
        entries.append(entry)
        self.last = entry
        return _unflatten(tree, [Tensor._make(np.array(t.data), False) for t in tensors])

    # ---------------------------------------------------------------- reading it

    def _entry(self):
        if self.last is None and "last_keywords" in self.__dict__:   # called with keywords
            return self.last_keywords._entry()
        if self.last is None:
            raise RuntimeError("cr.compile: call the function once before reading its code")
        return self.last

    @property
    def source(self) -> str:
        """The generated Python source of the version run last."""
        return self._entry().source

    @property
    def program(self):
        """The optimized Program (equations) of the version run last."""
        return self._entry().program

    def explain(self) -> str:
        """Traces, equations before/after optimization, buffers, fused kernels, reads, writes."""
        e = self._entry()
        n0, n1 = len(e.program_traced.eqns), len(e.program.eqns)
        lines = [f"cr.compile({_name(self.fn)}): traced {self.traces} time(s), "
                 f"{sum(len(v) for v in self.cache.values())} version(s) cached",
                 f"  equations: {n0} traced -> {n1} after dead-code, common-subexpression and "
                 f"constant passes",
                 f"  fused kernels: {e.fused}",
                 f"  reads every call: {len(e.args)} argument(s), {len(e.consts)} captured "
                 f"tensor(s)",
                 f"  writes back: {len(e.written)} tensor(s) in place, "
                 f"{len(e.grad_out) + len(e.grad_none)} .grad slot(s) besides"]
        from .trace import describe
        lines += [f"    reads {v.name}: {describe(s)}" for v, s in e.consts]
        return "\n".join(lines + ["", e.source])


def _label(fn) -> str:
    """fn's qualified name, or a module's class name, for messages and docstrings."""
    return getattr(fn, "__qualname__", None) or type(fn).__name__


def _name(fn) -> str:
    n = getattr(fn, "__name__", "step")
    return n if n.isidentifier() and n != "<lambda>" else "step"


def compile(fn=None, *, fallback=None, cache_size: int = 8, fuse=None, buffers: bool = True):  # noqa: A001
    """Compile a step: `step = cr.compile(fn)` or `@cr.compile` / `@cr.compile(fallback="eager")`.

    Fastest with the whole step inside fn (forward, backward, optimizer step). A model compiled
    alone, `fast = cr.compile(model)`, gives outputs whose backward is compiled code too.
    Keyword arguments are inputs like positional ones (a version per set of keyword names).

    fuse: None or "auto" (default) makes only the kernels expected to beat their NumPy calls
    (fuse.pays): numba kernels for long elementwise chains when numba is installed, blocked NumPy
    loops for big in-place updates; True fuses every chain with numba, False none;
    buffers: preallocated buffers with `out=` for elementwise temporaries.
    >>> step = cr.compile(lambda x: (x * x).sum())
    >>> step(cr.ones(3))          # tensor(3.)
    """
    if fn is None:
        return lambda f: CompiledFunction(f, fallback, cache_size, fuse, buffers)
    return CompiledFunction(fn, fallback, cache_size, fuse, buffers)
