"""The op surface, built from declarations: each primitive's class attributes (`api`, `method`,
`operators`, `ufunc`, `numpy`, `cli`, `functional`, `spelling`) and `@expose` on compositions.

An Exposure says where one public function appears; consumers (the cr namespace, Tensor methods and
operators, the NumPy dispatch tables, nn.functional, the CLI) subscribe with `on_expose` and install
it: once at import for everything known, and again for every primitive registered later.
`ops.unregister(name)` takes all of it back.
"""
from __future__ import annotations

import inspect
from typing import Callable, NamedTuple

from ..ops.base import on_register, put
from .args import generate, reflected


class Exposure(NamedTuple):
    key: str                  # the primitive's name, or the function's
    names: tuple              # public names in cr / chainrule.functions (may be empty)
    fn: Callable
    methods: tuple = ()       # Tensor method names
    operators: dict = {}      # Tensor dunder name -> function
    ufuncs: tuple = ()        # NumPy ufuncs sent to fn by Tensor.__array_ufunc__
    numpy: tuple = ()         # NumPy functions sent to fn by Tensor.__array_function__
    cli: tuple = ()           # names in the CLI expression language
    functional: tuple = ()    # names in cr.nn.functional


EXPOSED: dict[str, Exposure] = {}
CLI: dict[str, Callable] = {}         # the CLI whitelist (viz/expr.py reads this dict)
_LISTENERS: list = []
_UNDO: dict[str, list] = {}
_namespace: dict = {}                 # chainrule.functions' globals (set by the package)


_BINARY = {"__add__", "__sub__", "__mul__", "__truediv__", "__floordiv__", "__mod__", "__divmod__",
           "__pow__", "__matmul__", "__and__", "__or__", "__xor__", "__lshift__", "__rshift__"}


def _tuple(value):
    """A declaration of objects (ufuncs, NumPy functions, dunder names): one or a tuple."""
    if value is None or (isinstance(value, (tuple, list)) and not value):
        return ()
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


def _names(value, default):
    """A declaration's names: False/None -> (), True -> default names, str -> (str,), tuple as is."""
    if not value:
        return ()
    if value is True:
        return tuple(default)
    return (value,) if isinstance(value, str) else tuple(value)


def on_expose(listener):
    """listener(exposure) -> undo callables; called for every exposure, now and later."""
    _LISTENERS.append(listener)
    for e in list(EXPOSED.values()):
        _UNDO.setdefault(e.key, []).extend(listener(e) or ())


_CLAIMS: dict = {}   # (table, name or object) -> key of the exposure that declared it


def _claims(e):
    yield from (("cr", n) for n in e.names)
    yield from (("Tensor", n) for n in list(e.methods) + list(e.operators))
    yield from (("numpy", u) for u in e.ufuncs + e.numpy)
    yield from (("cli", n) for n in e.cli)
    yield from (("nn.functional", n) for n in e.functional)


def add(e: Exposure):
    """Enter an exposure and install it everywhere; a name or NumPy function declared by two ops
    is an error naming both (with ~100 ops a silent override would go unnoticed)."""
    if e.key in EXPOSED:
        raise ValueError(f"expose: {e.key!r} is exposed twice")
    for c in _claims(e):
        if _CLAIMS.get(c, e.key) != e.key:
            what = getattr(c[1], "__name__", c[1])
            raise ValueError(f"expose: {e.key!r} declares {c[0]} {what!r}, already declared by "
                             f"{_CLAIMS[c]!r}")
    for c in _claims(e):
        _CLAIMS[c] = e.key
    EXPOSED[e.key] = e
    undo = _UNDO.setdefault(e.key, [])
    for n in e.names:
        undo.append(put(_namespace, n, e.fn))
    for n in e.cli:
        undo.append(put(CLI, n, e.fn))
    for listener in _LISTENERS:
        undo.extend(listener(e) or ())
    return e


def withdraw(key):
    """Take an exposure back from every consumer."""
    e = EXPOSED.pop(key, None)
    for c in _claims(e) if e is not None else ():
        _CLAIMS.pop(c, None)
    for undo in reversed(_UNDO.pop(key, [])):
        undo()


def _operators(names, fn, prim=None):
    """{dunder: function}; a reflected dunder (__radd__) swaps the operands. For a primitive of two
    inputs both sides call the engine directly (no extra frame on the hottest path)."""
    out = {}
    for op in names:
        if op.startswith("__r") and "__" + op[3:] in _BINARY:   # __radd__, __rrshift__; not __round__
            if prim is not None and getattr(fn, "_primitive", None) is prim:
                out[op] = reflected(prim)
            else:
                out[op] = (lambda f: lambda x, y: f(y, x))(fn)
            out[op].__name__ = op
        else:
            out[op] = fn
    return out


def expose(fn=None, *, name=None, aliases=(), method=False, operators=(), ufunc=(), numpy=(),
           cli=False, functional=False):
    """Decorator for compositions and no-gradient ops: declare how `fn` is exposed (as a primitive
    does with its class attributes). name=False: only the given tables (a NumPy adapter).

    >>> @expose(method=True, numpy=np.var)
    ... def var(x, axis=None): ...
    """
    def deco(f):
        main = () if name is False else ((name or f.__name__),) + tuple(aliases)
        add(Exposure(key=main[0] if main else f"{f.__module__}.{f.__name__}", names=main, fn=f,
                     methods=_names(method, main), operators=_operators(_tuple(operators), f),
                     ufuncs=_tuple(ufunc), numpy=_tuple(numpy), cli=_names(cli, main),
                     functional=_names(functional, main)))
        return f
    return deco if fn is None else deco(fn)


def _from_primitive(prim):
    """Expose a registered primitive that declares `api`: the hand-written function of that name in
    chainrule.functions if there is one (argument handling beyond the primitive's), else one
    generated from its spelling."""
    if not prim.api:
        return ()
    names = _names(prim.api, ())
    hand = _namespace.get(names[0])
    if not inspect.isfunction(hand) or getattr(hand, "_primitive", None) is not None:
        hand = None   # not hand-written (absent, a submodule, or generated for another primitive)
    fn = hand or generate(prim, names[0])
    # a hand-written function that only adds keywords (add's alpha=) leaves the operators fast
    op_fn = generate(prim, names[0]) if getattr(hand, "_operators_generated", False) else fn
    add(Exposure(key=f"primitive {prim.name}", names=names, fn=fn, methods=_names(prim.method, names),
                 operators=_operators(_tuple(prim.operators), op_fn, prim),
                 ufuncs=_tuple(inspect.getattr_static(prim, "ufunc")),   # a function class
                 numpy=_tuple(inspect.getattr_static(prim, "numpy")),   # attribute would bind
                 cli=_names(prim.cli, names[:1]),
                 functional=_names(prim.functional, names[:1])))
    return (lambda: withdraw(f"primitive {prim.name}"),)


def bind(namespace):
    """Called first by the package: public names (hand-written or generated) go into `namespace`."""
    global _namespace
    _namespace = namespace


def start():
    """Called last by the package: expose every primitive, now and whenever one is registered."""
    on_register(_from_primitive)
