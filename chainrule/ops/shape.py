"""Shape and indexing primitives: reshape, transpose, broadcast, getitem/scatter, concatenate, stack, pad."""
from __future__ import annotations

import numpy as np

from .. import autograd, tensor_base
from .base import Primitive, Sample, ShapeError, register, shape_error, zeros_like_any


class ShapeOp(Primitive):
    """Shape ops move or copy elements: linear, so the tangent rule is the op itself."""
    linear = True
    saves_inputs = False


@register
class Alias(ShapeOp):
    """Z = X, recorded: a fresh point to differentiate at, still connected to X's graph.   dL/dX = dL/dZ.

    The transforms differentiate with respect to an alias (not x itself) to keep nested transforms
    apart: grad(lambda x: x * grad(lambda y: x * y)(x)) sees the inner y as its own variable.
    """
    name = "alias"
    flat_forward = "{0}"
    samples = (Sample((3, 4)), Sample(()))

    def forward(self, x):
        return x

    def vjp(self, g, ans, needs, x):
        return (g,)


@register
class Reshape(ShapeOp):
    """Z = X viewed with a new shape.   dL/dX = dL/dZ reshaped back."""
    name = "reshape"
    flat_forward = "np.reshape({0}, {shape})"
    samples = (Sample((3, 4), shape=(2, 6)), Sample((2, 3, 4), shape=(6, -1)), Sample((4,), shape=(2, 1, 2)))
    api = ("reshape", "view")   # functions/shape.py: reshape(2, 3) or reshape((2, 3))
    method = True

    def forward(self, x, shape):
        try:
            return np.reshape(x, shape)
        except ValueError:
            raise ShapeError(f"reshape: cannot reshape shape {np.shape(x)} (size {np.size(x)}) "
                             f"into {tuple(shape)}") from None

    def vjp(self, g, ans, needs, x, shape):
        return (g.reshape(x.shape),)


@register
class Transpose(ShapeOp):
    """Z = X with axes permuted.   dL/dX = dL/dZ with the inverse permutation."""
    name = "transpose"
    flat_forward = "np.transpose({0}, {axes})"
    samples = (Sample((3, 4), axes=(1, 0)), Sample((2, 3, 4), axes=(2, 0, 1)))
    api = "transpose"       # functions/shape.py: NumPy's and PyTorch's meanings
    method = True

    def print_form(self, params):
        """`x.T` for a 2-D transpose, as people write it."""
        return "{0}.T" if tuple(params.get("axes", ())) == (1, 0) else self.flat_forward

    def forward(self, x, axes):
        try:
            return np.transpose(x, axes)
        except ValueError:
            raise ShapeError(f"transpose: axes {tuple(axes)} are not a permutation of the "
                             f"{np.ndim(x)} axes of shape {np.shape(x)}") from None

    def vjp(self, g, ans, needs, x, axes):
        nd = np.ndim(x)   # negative axes (permute(-1, 0, 1)) inverted as their positive twins
        return (g.transpose(tuple(np.argsort([a % nd for a in axes]))),)


@register
class BroadcastTo(ShapeOp):
    """Z = X broadcast to a larger shape (the copy gate).   dL/dX = dL/dZ summed back (by the engine)."""
    name = "broadcast_to"
    flat_forward = "np.broadcast_to({0}, {shape})"
    samples = (Sample((3, 1), shape=(3, 4)), Sample((4,), shape=(2, 3, 4)))
    api = "broadcast_to"
    method = True
    numpy = np.broadcast_to

    def forward(self, x, shape):
        try:
            return np.broadcast_to(x, shape)
        except ValueError:
            raise shape_error("broadcast_to", "do not broadcast", np.shape(x), shape) from None

    def vjp(self, g, ans, needs, x, shape):
        return (g,)


def is_basic_index(index):
    """True for ints, slices, None and Ellipsis only (each element picked at most once)."""
    items = index if isinstance(index, tuple) else (index,)
    return all(i is None or i is Ellipsis or isinstance(i, (int, np.integer, slice)) for i in items)


class IndexSlot:
    """Marks an index array in an index template by its position among the primitive's inputs:
    getitem(x, i) records the array i as input 1 of its equation (not a constant), so a traced
    program indexes with each call's indices."""
    __slots__ = ("slot",)

    def __init__(self, k: int):
        self.slot = k

    def __repr__(self):
        return f"IndexSlot({self.slot})"

    def __eq__(self, other):
        return isinstance(other, IndexSlot) and other.slot == self.slot

    def __hash__(self):
        return hash(("IndexSlot", self.slot))


def fill_index(index, inputs):
    """The index with each IndexSlot replaced by the input it names."""
    # NOTE: duck-typed (no IndexSlot name): flat code copies this function without the class
    if not isinstance(index, tuple):
        return inputs[index.slot] if getattr(index, "slot", None) is not None else index
    return tuple(inputs[i.slot] if getattr(i, "slot", None) is not None else i for i in index)


def shift_index(index, by):
    """The template with every IndexSlot moved by `by` inputs (for a primitive with fewer or more
    leading inputs)."""
    if not isinstance(index, tuple):
        return IndexSlot(index.slot + by) if isinstance(index, IndexSlot) else index
    return tuple(IndexSlot(i.slot + by) if isinstance(i, IndexSlot) else i for i in index)


def reads_values(x, what):
    """Python code is about to set a shape or a layout from x's values (x[mask], nonzero, unique).
    Under cr.compile that is a graph break (GraphBreak, or eager code with fallback='eager'):
    compiled code would keep this call's shape for every later call. Elsewhere it costs nothing.
    """
    tracer = autograd.current_tracer()
    if tracer is None or tensor_base._read_hook is None or not hasattr(tracer, "records_backward"):
        return
    if isinstance(x, autograd.Tensor):
        tracer.var_of(x)   # a captured tensor is read live, so its values can change too
        tensor_base._read_hook(x, what)
    elif isinstance(x, np.ndarray):   # a bare array: only if it is (a view of) a traced value
        while isinstance(x.base, np.ndarray) and not tracer.knows(autograd.Tensor._make(x, False)):
            x = x.base
        tensor_base._read_hook(autograd.Tensor._make(x, False), what)


def split_index(index, first=1):
    """(template, arrays): an index with its array entries (ndarrays, Tensors) moved out as inputs
    (the primitive's inputs `first`, `first` + 1, ...)."""
    items = index if isinstance(index, tuple) else (index,)
    parts, out = [], []
    for i in items:
        if isinstance(i, np.ndarray) and i.ndim or isinstance(i, autograd.Tensor):
            out.append(IndexSlot(first + len(parts)))
            parts.append(i)
        else:
            out.append(i)
    if not parts:
        return index, ()
    return (tuple(out) if isinstance(index, tuple) else out[0]), tuple(parts)


def getitem(x, index):
    """x[index] recorded as one getitem, with the index arrays as inputs."""
    template, parts = split_index(index)
    for p in parts:
        if (p.data if isinstance(p, autograd.Tensor) else p).dtype == np.bool_:
            reads_values(p, "indexing with a boolean mask (the result has one row per True)")
    return GetItem(x, *parts, index=template)


def scatter_add(x, shape, index):
    """zeros(shape) with x added at index (repeats add), the index arrays as inputs."""
    template, parts = split_index(index)
    return ScatterAdd(x, *parts, shape=shape, index=template)


def index_put(x, v, index):
    """x with [index] = v, the index arrays as inputs."""
    template, parts = split_index(index, 2)
    return IndexPut(x, v, *parts, index=template)


@register
class GetItem(ShapeOp):
    """Z = X[index].   dL/dX = zeros with dL/dZ added at index (repeated indices accumulate).

    Index arrays are inputs after X (IndexSlot marks their places in `index`); no gradient flows
    to them.
    """
    name = "getitem"
    flat_forward = "{0}[{index}]"
    samples = (Sample((5, 4), index=(slice(1, 4), 2)), Sample((5, 4), index=np.array([0, 2, 2, 4])),
               Sample((3, 4), index=(np.array([[True, False, True, True]] * 3),)),
               Sample((2, 3, 4), index=(Ellipsis, None, 1)), Sample((4, 3), index=(np.array([1, 1]), slice(None))),
               Sample((5, 4), np.array([0, 2, 2, 4]), np.array([1, 1, 3, 0]),
                      index=(IndexSlot(1), IndexSlot(2))))

    def forward(self, x, *parts, index):
        try:
            return x[fill_index(index, (x,) + parts) if parts else index]
        except IndexError as e:
            raise IndexError(f"getitem: index {_show(fill_index(index, (x,) + parts))} does not fit shape "
                             f"{np.shape(x)}: {e}") from None

    def vjp(self, g, ans, needs, x, *parts, index):
        return (ScatterAdd(g, *parts, shape=x.shape, index=index),) + (None,) * len(parts)

    def jvp(self, tangents, ans, x, *parts, index):
        return GetItem(tangents[0], *parts, index=index)


@register
class ScatterAdd(ShapeOp):
    """Z = zeros(shape) with X added at index: the adjoint of getitem.   dL/dX = dL/dZ[index]."""
    name = "scatter_add"
    flat_forward = None   # exported as a call of its own forward
    samples = (Sample((3,), shape=(5, 4), index=(slice(1, 4), 2)), Sample((4, 4), shape=(5, 4), index=np.array([0, 2, 2, 4])),
               Sample((4,), np.array([0, 2, 2, 4]), np.array([1, 1, 3, 1]), shape=(5, 4),
                      index=(IndexSlot(1), IndexSlot(2))))

    def forward(self, x, *parts, shape, index):
        if parts:
            index = fill_index(index, (x,) + parts)
        out = np.zeros(shape, dtype=x.dtype)
        if is_basic_index(index):
            out[index] = x
        else:
            np.add.at(out, index, x)
        return out

    def vjp(self, g, ans, needs, x, *parts, shape, index):
        return (GetItem(g, *parts, index=index),) + (None,) * len(parts)

    def jvp(self, tangents, ans, x, *parts, shape, index):
        return ScatterAdd(tangents[0], *parts, shape=shape, index=index)


@register
class IndexPut(ShapeOp):
    """Z = X with Z[index] = V (x[index] = v under autograd).   dL/dX = g zeroed at index, dL/dV = g[index]."""
    name = "index_put"
    flat_forward = None   # exported as a call of its own forward
    samples = (Sample((5, 4), (4,), index=(slice(1, 3),)), Sample((5, 4), (), index=(np.array([0, 3]), 1)),
               Sample((5, 4), (2,), np.array([0, 3]), index=(IndexSlot(2), 1)))

    def forward(self, x, v, *parts, index):
        out = np.array(x, copy=True)
        out[fill_index(index, (x, v) + parts) if parts else index] = v
        return out

    def vjp(self, g, ans, needs, x, v, *parts, index):
        gx = gv = None
        if needs[0]:   # g with zeros where v was written: itself an index_put, so it traces
            gx = IndexPut(g, np.zeros((), g.dtype), *parts, index=index)
        if needs[1]:
            gv = GetItem(g, *parts, index=shift_index(index, -1))
        return (gx, gv) + (None,) * len(parts)

    def jvp(self, tangents, ans, x, v, *parts, index):
        tx, tv = tangents[0], tangents[1]
        tx = zeros_like_any(x) if tx is None else tx
        tv = zeros_like_any(v) if tv is None else tv
        return IndexPut(tx, tv, *parts, index=index)


@register
class Concatenate(ShapeOp):
    """Z = [X1, X2, ...] along an axis.   dL/dXi = the slice of dL/dZ where Xi sits."""
    name = "concatenate"
    flat_forward = "np.concatenate([{inputs}], axis={axis})"
    samples = (Sample((2, 3), (4, 3), axis=0), Sample((2, 3), (2, 1), (2, 2), axis=1))
    api = ("concatenate", "cat")
    numpy = np.concatenate

    def forward(self, *xs, axis=0):
        try:
            return np.concatenate(xs, axis=axis)
        except ValueError:
            raise shape_error("concatenate", f"do not match outside axis {axis}",
                              *[np.shape(x) for x in xs]) from None

    def vjp(self, g, ans, needs, *xs, axis=0):
        ax = axis % g.ndim
        grads, start = [], 0
        for x, need in zip(xs, needs):
            stop = start + x.shape[ax]
            grads.append(g[(slice(None),) * ax + (slice(start, stop),)] if need else None)
            start = stop
        return grads


@register
class Stack(ShapeOp):
    """Z = [X1, X2, ...] along a new axis.   dL/dXi = dL/dZ at index i of that axis.

    One node for any number of inputs (stacking 1000 tensors records one node, not 1000 unsqueezes
    and a concatenate); each input's gradient is a view of dL/dZ.
    """
    name = "stack"
    flat_forward = "np.stack([{inputs}], axis={axis})"
    samples = (Sample((2, 3), (2, 3), axis=0), Sample((2, 3), (2, 3), (2, 3), axis=2),
               Sample((), (), axis=0))

    def forward(self, *xs, axis=0):
        try:
            return np.stack(xs, axis=axis)
        except np.exceptions.AxisError:
            raise IndexError(f"stack: axis {axis} is out of range for tensors of shape "
                             f"{np.shape(xs[0])} (expected -{np.ndim(xs[0]) + 1} to "
                             f"{np.ndim(xs[0])})") from None
        except ValueError:
            raise ShapeError(f"stack: expects tensors of one shape, got shapes "
                             f"{' and '.join(str(np.shape(x)) for x in xs)}") from None

    def vjp(self, g, ans, needs, *xs, axis=0):
        lead = (slice(None),) * (axis % g.ndim)
        return [g[lead + (i,)] if need else None for i, need in enumerate(needs)]


@register
class Pad(ShapeOp):
    """Z = X padded with a constant.   dL/dX = dL/dZ with the padding cut off."""
    name = "pad"
    flat_forward = "np.pad({0}, {pad_width}, constant_values={value})"
    samples = (Sample((3, 4), pad_width=((1, 2), (0, 1))), Sample((4,), pad_width=((2, 2),), value=1.0))
    api = "pad"             # functions/shape.py checks pad_width; np.pad: functions/numpy_api.py

    def forward(self, x, pad_width, value=0.0):
        return np.pad(x, pad_width, mode="constant", constant_values=value)

    def vjp(self, g, ans, needs, x, pad_width, value=0.0):
        return (g[tuple(slice(lo, lo + n) for (lo, _), n in zip(pad_width, x.shape))],)

    def jvp(self, tangents, ans, x, pad_width, value=0.0):
        return self(tangents[0], pad_width=pad_width, value=0.0)


def _show(index):
    items = index if isinstance(index, tuple) else (index,)
    return "[" + ", ".join(f"array{np.shape(i)}" if isinstance(i, np.ndarray) else repr(i) for i in items) + "]"
