"""Source of the small NumPy helpers that generated flat code may call (emitted only when used).

Each entry is plain Python that mirrors the matching rule in chainrule/ops; the generated module
must run with NumPy alone, so these are copied into it as text.
"""

HELPERS = {
    "_sum_to": '''
def _sum_to(g, shape):
    """Undo broadcasting: sum g over the axes broadcasting added or stretched."""
    g = np.asarray(g)
    if g.shape == tuple(shape):
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(i + lead for i, n in enumerate(shape)
                                      if n == 1 and g.shape[i + lead] != 1)
    return g.sum(axis=axes, keepdims=True).reshape(shape)
''',
    "_expand": '''
def _expand(g, shape, axis, keepdims):
    """A reduced value reshaped so it broadcasts against the unreduced shape."""
    if keepdims:
        return g
    axes = range(len(shape)) if axis is None else ((axis,) if isinstance(axis, int) else axis)
    kept = list(shape)
    for a in axes:
        kept[a % len(shape)] = 1
    return np.reshape(g, kept)
''',
    "_count": '''
def _count(shape, axis):
    """How many elements each output of a reduction summed."""
    axes = range(len(shape)) if axis is None else ((axis,) if isinstance(axis, int) else axis)
    return int(np.prod([shape[a] for a in axes], dtype=np.int64))
''',
    "_extreme_mask": '''
def _extreme_mask(ans, x, axis, keepdims):
    """1 where x attains its max (or min), split evenly on ties: the max gate routes."""
    hit = x == _expand(ans, np.shape(x), axis, keepdims)
    return hit / hit.sum(axis=axis, keepdims=True)
''',
    "_nonzero": '''
def _nonzero(z):
    return np.where(z == 0, 1, z)
''',
    "_logsumexp": '''
def _logsumexp(x, axis, keepdims):
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)
    out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else out.reshape(np.sum(m, axis=axis).shape)
''',
    "_softmax": '''
def _softmax(x, axis):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)
''',
    "_log_softmax": '''
def _log_softmax(x, axis):
    z = x - np.max(x, axis=axis, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))
''',
    "_one_hot": '''
def _one_hot(target, x):
    return np.eye(np.shape(x)[-1], dtype=x.dtype)[target]
''',
    "_cross_entropy": '''
def _cross_entropy(x, target, reduction):
    """-log softmax(x)[target] per row, then mean / sum / none."""
    losses = -_log_softmax(x, -1)[np.arange(x.shape[0]), target]
    return {"mean": losses.mean, "sum": losses.sum}.get(reduction, lambda: losses)()
''',
    "_ce_scale": '''
def _ce_scale(g, n, reduction):
    """Upstream gradient of cross_entropy spread over rows (divided by N for the mean)."""
    if reduction == "none":
        return g[:, None]
    return g / n if reduction == "mean" else g
''',
    "_clip_mask": '''
def _clip_mask(x, lo, hi):
    if lo is None:
        return x <= hi
    if hi is None:
        return x >= lo
    return (x >= lo) & (x <= hi)
''',
    "_scatter_add": '''
def _scatter_add(x, shape, index):
    """zeros(shape) with x added at index (repeated indices add up)."""
    out = np.zeros(shape, dtype=np.result_type(x))
    items = index if isinstance(index, tuple) else (index,)
    if all(i is None or i is Ellipsis or isinstance(i, (int, slice)) for i in items):
        out[index] = x
    else:
        np.add.at(out, index, x)
    return out
''',
    "_index_put": '''
def _index_put(x, v, index):
    out = np.array(x, copy=True)
    out[index] = v
    return out
''',
    "_keep_mask": '''
def _keep_mask(shape, index):
    keep = np.ones(shape, dtype=bool)
    keep[index] = False
    return keep
''',
    "_unpad": '''
def _unpad(g, pad_width, shape):
    return g[tuple(slice(lo, lo + n) for (lo, _), n in zip(pad_width, shape))]
''',
    "_concat_grad": '''
def _concat_grad(g, i, axis, xs):
    """The slice of g where input i of the concatenation sits."""
    ax = axis % g.ndim
    start = sum(np.shape(x)[ax] for x in xs[:i])
    return g[(slice(None),) * ax + (slice(start, start + np.shape(xs[i])[ax]),)]
''',
    "_einsum_grad": '''
def _einsum_grad(subscripts, i, g, ops):
    """Gradient of einsum for operand i: contract g with the other operands."""
    spec = subscripts.replace(" ", "")
    if "->" in spec:
        ins, out = spec.split("->")
    else:
        ins = spec
        letters = ins.replace(",", "")
        out = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    ins = ins.split(",")
    others = [(s, o) for j, (s, o) in enumerate(zip(ins, ops)) if j != i]
    have = set(out).union(*[set(s) for s, _ in others])
    target = "".join(c for c in ins[i] if c in have)
    gi = np.einsum(",".join([out] + [s for s, _ in others]) + "->" + target, g,
                   *[o for _, o in others])
    if target != ins[i]:
        shape = tuple(n if c in have else 1 for c, n in zip(ins[i], np.shape(ops[i])))
        gi = np.broadcast_to(gi.reshape(shape), np.shape(ops[i]))
    return gi
''',
}

# helpers that call other helpers
NEEDS = {"_extreme_mask": ("_expand",), "_cross_entropy": ("_log_softmax",)}
