"""Fusion: maximal groups of elementwise equations become one numba `@njit` loop.

An equation is fusible when its primitive has a scalar form below and every array input has the
output's shape (scalars broadcast; other broadcasting ends a group). Groups are grown in program
order; an equation joins the group of one of its inputs unless that group would then have to run
both before and after some other equation (checked with the set of groups each value must
follow). Every value a group computes that is used outside it becomes a kernel output. The
kernel reads each element once, does the whole chain in registers, and writes its outputs once;
constants are typed like the arrays (float32 stays float32, as NumPy's scalar rules keep it).
Kernels are compiled with `cache=True` from a file in the cache directory, so a later process
loads them from disk instead of compiling again.

Long runs of identical blocks inside a kernel (a chain of layers and its backward) become loops
(loop.py), so kernel size and numba compile time do not grow with the chain. float32 tanh is a
vectorizable helper (`_tanh32`, correctly rounded) instead of libm's scalar call. With the
default fuse="auto" a group becomes a kernel only when it is expected to pay (`pays`): a numba
kernel for a long chain, NumPy in cache-sized blocks (`Blocked`) for a big in-place update.
"""
from __future__ import annotations

import re

import numpy as np

from ..program import Var
from ..viz.flat import literal

# primitive name -> scalar expression template over operands {0}, {1}, ...
SCALAR = {"add": "{0} + {1}", "sub": "{0} - {1}", "mul": "{0} * {1}", "div": "{0} / {1}",
          "neg": "-{0}", "exp": "np.exp({0})", "log": "np.log({0})", "tanh": "np.tanh({0})",
          "sqrt": "np.sqrt({0})", "abs": "abs({0})", "log1p": "np.log1p({0})",
          "sin": "np.sin({0})", "cos": "np.cos({0})",
          "maximum": "max({0}, {1})", "minimum": "min({0}, {1})", "relu": "max({0}, {zero})",
          "where": "({1} if {0} else {2})", "greater": "{0} > {1}", "greater_equal": "{0} >= {1}",
          "less": "{0} < {1}", "less_equal": "{0} <= {1}", "equal": "{0} == {1}",
          "not_equal": "{0} != {1}"}
_FLOAT_ONLY = {"exp", "log", "tanh", "sqrt", "log1p", "sin", "cos"}
_COMPARE = {"greater", "greater_equal", "less", "less_equal", "equal", "not_equal"}


# fuse="auto" (the default with numba installed) makes a kernel only where it was measured to
# pay: numba costs ~1.5 s CPU once per process (import 0.6 s, first compile 0.9 s) and ~0.2 s per
# kernel, and a call of a 2-4 op kernel on small arrays is no faster than its NumPy `out=` calls
# (W1, W3, W4 steady state: fused/unfused 1.01, 0.98, 1.03). It pays for long chains (W5: one
# NumPy call per op saved) and for large arrays (W2's SGD update: one pass over 64 MB saved, 0.43
# in one run). It does not pay for a 16-op kernel reading 14 arrays and writing 5 (W8's LSTM
# cell backward on 32x128: fused/unfused 1.14): every argument costs a reshape and numba's
# argument dispatch, every output a fresh array. Nor for a large kernel writing fresh arrays
# (W7's relu+mask on 2-4 M elements: 1.12): a new 16 MB array each call costs its page faults,
# where NumPy's statements write planned buffers; an update written back in place (W2) pays.
# Such an update of plain ufuncs runs as NumPy in cache-sized blocks (`Blocked`): as fast as its
# numba kernel (W2 step, one process: 85 vs 87, 94 vs 92, 100 vs 97 ms), without numba's cost.
AUTO_MIN_OPS = 16         # a chain of at least this many ops, and 2 per argument,
AUTO_MIN_WORK = 1 << 20   # or (ops - 1) x elements at least this, writing back in place


# error_model="numpy": x / 0 gives inf/nan as in NumPy (numba's default raises
# ZeroDivisionError), and without that check LLVM can vectorize the element loops
DECORATOR = '@njit(cache=True, error_model="numpy")'

# float32 tanh without a library call, so LLVM vectorizes the element loop (libm's tanhf is a
# scalar call: ~25 ns, most of W5's kernel); correctly rounded (max 0.5 ulp measured on 2.2M
# samples; NumPy's own float32 tanh is within 1.4 ulp), NaN, ±inf and -0.0 as np.tanh.
TANH32 = '''P1, P2, P3 = 17325 / 135135, 378 / 135135, 1 / 135135
Q1, Q2, Q3 = 62370 / 135135, 3150 / 135135, 28 / 135135


@njit(cache=True, error_model="numpy", inline="always")
def _tanh32(x):
    """float32 tanh in float64 arithmetic: the [7/6] Pade approximant of tanh(x/32), then
    five doublings tanh(2u) = 2t/(1 + t*t) kept as a fraction p/q (one division at the end)."""
    y = np.float64(x)
    y = 10.0 if y > 10.0 else (-10.0 if y < -10.0 else y)   # tanh(10) rounds to 1.0f
    z = y * 0.03125
    z2 = z * z
    p = z * (1.0 + z2 * (P1 + z2 * (P2 + z2 * P3)))
    q = 1.0 + z2 * (Q1 + z2 * (Q2 + z2 * Q3))
    p, q = 2.0 * p * q, p * p + q * q
    p, q = 2.0 * p * q, p * p + q * q
    p, q = 2.0 * p * q, p * p + q * q
    p, q = 2.0 * p * q, p * p + q * q
    p, q = 2.0 * p * q, p * p + q * q
    return np.float32(p / q)'''


def available() -> bool:
    """numba is installed (found without importing it: the import alone takes ~0.6 s)."""
    import importlib.util
    return importlib.util.find_spec("numba") is not None


def pays(kernel, writes=()) -> bool:
    """Whether fuse="auto" compiles this kernel (see AUTO_MIN_OPS, AUTO_MIN_WORK); writes: ids
    of the values written back into captured tensors."""
    return pays_by_ops(kernel) or pays_by_work(kernel, writes)


def pays_by_ops(kernel) -> bool:
    """A long chain: a NumPy call per op saved (numba only)."""
    ops = len(kernel.eqns)
    return ops >= max(AUTO_MIN_OPS, 2 * (len(kernel.inputs) + len(kernel.outputs)))


def pays_by_work(kernel, writes=()) -> bool:
    """Big arrays updated in place: passes over memory saved (numba, or NumPy in blocks)."""
    return (len(kernel.eqns) - 1) * int(np.prod(kernel.shape)) >= AUTO_MIN_WORK and \
        all(id(o) in writes for o in kernel.outputs)


def _fusible(e) -> bool:
    name = e.prim.name
    if name not in SCALAR or e.params or not e.out.shape:
        return False
    if name == "relu" and e.out.dtype.kind != "f":
        return False
    if name in _FLOAT_ONLY and e.out.dtype.kind != "f":
        return False
    kinds = set()
    for x in e.inputs:
        if isinstance(x, Var):
            if x.shape and x.shape != e.out.shape:
                return False
            kinds.add(x.dtype)
        elif isinstance(x, np.ndarray):
            if x.ndim and x.shape != e.out.shape:
                return False
            if x.ndim:
                kinds.add(x.dtype)
        elif not isinstance(x, (int, float, bool, np.number, np.bool_)):
            return False
    if e.out.dtype.kind == "f" and name not in _COMPARE and name != "where":
        # float arithmetic only on arrays of the output's dtype (bool masks are cast)
        return all(k == e.out.dtype or k.kind == "b" for k in kinds)
    return True


def _array(x) -> bool:
    """A constant array of the group's shape: passed to the kernel like a value."""
    return isinstance(x, np.ndarray) and x.ndim > 0


def _value(x) -> bool:
    """An input read per element (a Var or a constant array), not a scalar constant."""
    return isinstance(x, Var) or _array(x)


def _statement(e, operand, const) -> str:
    """Scalar source of equation e; operand(x) gives an input's source, const(v, dtype) a
    typed constant's name."""
    kinds = [x.dtype for x in e.inputs if _value(x)]
    num = next((k for k in kinds if k.kind != "b"), e.out.dtype)
    ops = []
    for x in e.inputs:
        if _value(x):
            s = operand(x)
            if x.dtype.kind == "b" and e.out.dtype.kind == "f" and e.prim.name != "where":
                s = f"np.{e.out.dtype.name}({s})"
            ops.append(s)
        else:
            v = x.item() if isinstance(x, (np.ndarray, np.generic)) else x
            want = num if e.prim.name in _COMPARE else e.out.dtype
            ops.append(const(v, want if np.dtype(want).kind != "b" else np.int64))
    form = SCALAR[e.prim.name]
    if e.prim.name == "tanh" and e.out.dtype == np.float32:
        form = "_tanh32({0})"
    return form.format(*ops, zero=const(0, e.out.dtype) if "{zero}" in form else None)


class Kernel:
    """One fused group: its equations, external inputs, outputs and generated loop."""

    def __init__(self, idx, eqns):
        self.idx = idx
        self.eqns = eqns
        self.kernel = self   # marks the placeholder equation for plan.emit
        self.rolled = []     # loop.Run objects when the kernel holds loops

    def build(self, used_outside):
        members = {id(e.out) for e in self.eqns}
        self.inputs, seen = [], set()
        for e in self.eqns:
            for x in e.inputs:
                if (isinstance(x, Var) or _array(x)) and id(x) not in members and id(x) not in seen:
                    seen.add(id(x))
                    self.inputs.append(x)
        self.outputs = [e.out for e in self.eqns if id(e.out) in used_outside]
        self.shape = self.eqns[-1].out.shape
        self.out = self.outputs[0] if self.outputs else None
        self.backward_of = None
        self.prim = self
        self.name = "fused"

    def source(self, name):
        """The numba function's source (and its typed constants); long runs of identical
        blocks become loops (loop.py), the rest one statement per equation."""
        consts, table = [], {}

        def const(v, dtype):
            dt = np.dtype(dtype)
            text = literal(float(v) if dt.kind == "f" else int(v))   # nan/inf as float('nan')
            key = (dt.str, text)
            if key not in table:   # one name per typed value: 0.01 is one constant, not 1000
                table[key] = f"_{name}_c{len(consts)}"
                consts.append(f"{table[key]} = np.{dt.name}({text})")
            return table[key]

        def statement(e, operand):
            return _statement(e, operand, const)
        outs = [f"o{k}" for k in range(len(self.outputs))]
        from . import loop
        runs = loop.find_runs(self.eqns, _value)
        if runs:
            self.rolled = runs
            return consts, loop.rolled_source(self, name, runs, statement, _value, outs)
        local = {}
        args = []
        for k, x in enumerate(self.inputs):
            a = f"a{k}"
            args.append(a)
            local[id(x)] = f"{a}[i]" if x.shape else a
        lines = []
        for j, e in enumerate(self.eqns):
            v = f"v{j}"
            lines.append(f"        {v} = {statement(e, lambda x: local[id(x)])}  "
                         f"# {e.out.name} = {e.prim.name}")
            local[id(e.out)] = v
        for o, var in zip(outs, self.outputs):
            lines.append(f"        {o}[i] = {local[id(var)]}")
        head = [DECORATOR, f"def {name}({', '.join(args + outs)}):",
                f"    for i in range({outs[0]}.size):"]
        return consts, head + lines

    def call(self, src, name):
        """The statement(s) calling the kernel from the step function."""
        lines = []
        outs = []
        for var in self.outputs:
            over = src.inplace.get(id(var))
            if over is not None:   # a parameter or state array, overwritten element by element
                src.contiguous.add(id(over))
                lines.append(f"{var.name} = {over.name}  # updated in place")
            else:
                dt = "np.bool_" if var.dtype.kind == "b" else f"np.{var.dtype.name}"
                lines.append(f"{var.name} = np.empty({var.shape!r}, {dt})")
            outs.append(f"{var.name}.reshape(-1)")
        args = [f"{src.operand(x)}.reshape(-1)" if x.shape else f"{src.operand(x)}[()]"
                for x in self.inputs]
        ops = ", ".join(e.prim.name for e in self.eqns[:6]) + (", ..." if len(self.eqns) > 6
                                                             else "")
        lines.append(f"{name}({', '.join(args + outs)})  # fused {len(self.eqns)} ops: {ops}")
        return lines

    def kernel_lines(self, src):
        consts, body = self.source(_SELF)
        if any("_tanh32(" in ln for ln in body) and TANH32 not in src.kernels:
            src.kernels.insert(0, TANH32)
        text = "\n".join(consts + [""] + body if consts else body)
        # identical kernels (an RNN's cell at every time step) are one function, compiled once;
        # they differ only in the comments naming their values (the first one's are shown)
        key = re.sub(r"  # .*", "", text)
        names = src.__dict__.setdefault("kernel_names", {})
        name = names.get(key)
        if name is None:
            name = names[key] = f"_kernel{self.idx}"
            src.kernels.append(text.replace(_SELF, name))
        return self.call(src, name)


_SELF = "_kernel_SELF_"   # stands for the kernel's name until it is known

# NumPy's ufunc of each primitive whose eager forward is exactly that call (same dtypes): what
# a blocked kernel runs and what plan.py writes with out=
UFUNCS = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide,
          "neg": np.negative, "exp": np.exp, "log": np.log, "tanh": np.tanh, "sqrt": np.sqrt,
          "maximum": np.maximum, "minimum": np.minimum, "abs": np.absolute, "sin": np.sin,
          "cos": np.cos, "log1p": np.log1p, "sign": np.sign}
BLOCK_BYTES = 1 << 19   # the temporaries of one block: ~512 KB, within the L2 cache


def blockable(kernel) -> bool:
    """Every equation is one NumPy ufunc call (so `out=` slices compute eager's bits)."""
    return all(e.prim.name in UFUNCS for e in kernel.eqns)


class Blocked(Kernel):
    """A fused group run by NumPy, block by block: each equation is its ufunc with `out=` on a
    slice of ~64K elements, so the temporaries stay in the CPU cache and each big array is read
    and written once, as a numba kernel does — without importing numba (0.5 s) or compiling.
    Measured on W2's SGD update of 16.7M float32 (p - lr*g in place): 13 ms, the numba kernel
    13 ms, the unblocked `out=` pair 19 ms (benchmarks/compile_first_call.py, docs)."""

    def kernel_lines(self, src):
        name = f"_blocked{self.idx}"
        members = {id(e.out): j for j, e in enumerate(self.eqns)}
        last_use, last_read = {}, -1
        for j, e in enumerate(self.eqns):
            for x in e.inputs:
                if id(x) in members:
                    last_use[id(x)] = j
                elif _value(x) and x.shape:
                    last_read = j
        outputs = {id(v): f"o{k}" for k, v in enumerate(self.outputs)}
        args = [f"a{k}" for k in range(len(self.inputs))]
        local = {id(x): (f"a{k}[k:e]" if x.shape else f"a{k}") for k, x in enumerate(self.inputs)}
        tmps, free, slot, lines, copies = [], {}, {}, [], []
        for j, e in enumerate(self.eqns):
            o = outputs.get(id(e.out))
            if o is not None and j >= last_read:   # every input of this block is read: write
                target = f"{o}[k:e]"                # the output's slice directly
            else:
                pool = free.setdefault(e.out.dtype.str, [])
                t = pool.pop() if pool else len(tmps)
                if t == len(tmps):
                    tmps.append(e.out.dtype)
                if o is None:
                    slot[id(e.out)] = t
                else:   # kept until the block's end: inputs may share the output's array
                    copies.append(f"        {o}[k:e] = v{j}")
                target = f"{name}_t{t}[:m]"
            ops = ", ".join(local[id(x)] if _value(x) else src.constant(x) for x in e.inputs)
            lines.append(f"        v{j} = np.{UFUNCS[e.prim.name].__name__}({ops}, out={target})"
                         f"  # {e.out.name} = {e.prim.name}")
            local[id(e.out)] = f"v{j}"
            for x in e.inputs:   # a temporary read for the last time is free for the next
                if last_use.get(id(x)) == j and id(x) in slot:
                    free.setdefault(x.dtype.str, []).append(slot.pop(id(x)))
        size = sum(np.dtype(d).itemsize for d in tmps) or 1
        block = 1 << max(12, min(16, (BLOCK_BYTES // size).bit_length() - 1))
        for t, dt in enumerate(tmps):
            src.namespace[f"{name}_t{t}"] = np.empty(block, dt)
            src.consts.append((f"{name}_t{t}", f"block temporary {dt.name}[{block}]"))
        head = [f"def {name}({', '.join(args + list(outputs.values()))}):",
                f'    """{len(self.eqns)} fused ops, {block} elements at a time (the temporaries '
                f'stay in the CPU cache)."""',
                "    n = o0.size",
                f"    for k in range(0, n, {block}):",
                f"        m = min({block}, n - k)",
                "        e = k + m"]
        src.helpers[name] = "\n".join(head + lines + copies)
        out = self.call(src, name)
        out[-1] = out[-1].replace("[()]", "")   # 0-d inputs as the arrays eager code passed
        return out


def fuse(src, eqns, escaping, options):
    """Replace fusible groups (of 2+ equations) by Kernel placeholders, in a valid order."""
    if not options.get("fuse"):
        return eqns
    if options.get("fuse") == "auto" and not options.get("numba", True) and \
            len(eqns) * max((int(np.prod(e.out.shape)) for e in eqns), default=0) < AUTO_MIN_WORK:
        return eqns   # without numba only blocked kernels, and no group could do their work
    group = {}      # id(Var) -> group index, for values computed inside a group
    after = {}      # id(Var) -> set of groups that must run before this value exists
    g_after = []    # group index -> set of groups it must follow
    members = []    # group index -> [eqns]
    for e in eqns:
        ins = [x for x in e.inputs if isinstance(x, Var)]
        gs = [group.get(id(x)) for x in ins]   # each input's group (None: not in one)
        need = set()
        for x, gx in zip(ins, gs):
            dep = after.get(id(x)) if gx is None else g_after[gx]
            if dep:
                need |= dep
        if _fusible(e):
            target = None
            for gx in gs:
                if gx is not None and gx not in need and \
                        members[gx][-1].out.shape == e.out.shape:
                    target = gx
                    break
            if target is None:
                target = len(members)
                members.append([])
                g_after.append(set())
            for gx in gs:
                if gx is not None and gx != target:
                    need.add(gx)
                    need |= g_after[gx]
            members[target].append(e)
            if need:
                g_after[target] |= need
            group[id(e.out)] = target
        else:
            for gx in gs:
                if gx is not None:
                    need.add(gx)
            after[id(e.out)] = need
    real = {g for g, ms in enumerate(members) if len(ms) >= 2}
    if not real:
        return eqns
    used_outside = set(escaping)
    for e in eqns:
        ge = group.get(id(e.out)) if group.get(id(e.out)) in real else None
        for x in e.inputs:
            if isinstance(x, Var) and group.get(id(x)) in real and group.get(id(x)) != ge:
                used_outside.add(id(x))
    kernels = {}
    numba = options.get("numba", True)   # False: only NumPy (blocked) kernels
    for g in sorted(real):
        k = Kernel(len(kernels), members[g])
        k.build(used_outside)
        if not k.outputs:
            continue
        if options.get("fuse") != "auto":
            kernels[g] = k
        elif numba and pays_by_ops(k):
            kernels[g] = k
        elif pays_by_work(k, options.get("writes", {})):
            if blockable(k):   # NumPy in cache-sized blocks: as fast, and no numba to import
                kernels[g] = Blocked(k.idx, k.eqns)
                kernels[g].build(used_outside)
            elif numba:
                kernels[g] = k
    if not kernels:
        return eqns
    # schedule: nodes are kernels and the other equations; Kahn's algorithm, program order first
    node_of = {}
    nodes = []
    for e in eqns:
        g = group.get(id(e.out))
        if g in kernels:
            if kernels[g] not in nodes:
                nodes.append(kernels[g])
            node_of[id(e.out)] = kernels[g]
        else:
            nodes.append(e)
            node_of[id(e.out)] = e
    deps = {id(n): set() for n in nodes}
    users = {id(n): [] for n in nodes}
    for n in nodes:
        for e in (n.eqns if isinstance(n, Kernel) else [n]):
            for x in e.inputs:
                p = node_of.get(id(x)) if isinstance(x, Var) else None
                if p is not None and p is not n and id(p) not in deps[id(n)]:
                    deps[id(n)].add(id(p))
                    users[id(p)].append(n)
    import heapq
    order = {id(n): k for k, n in enumerate(nodes)}
    ready = [(order[id(n)], id(n)) for n in nodes if not deps[id(n)]]
    heapq.heapify(ready)
    by_id = {id(n): n for n in nodes}
    out = []
    while ready:
        _, nid = heapq.heappop(ready)
        n = by_id[nid]
        out.append(n)
        for u in users[nid]:
            deps[id(u)].discard(nid)
            if not deps[id(u)]:
                heapq.heappush(ready, (order[id(u)], id(u)))
    if len(out) != len(nodes):   # a cycle (should not happen): leave the program unfused
        return eqns
    src.fused = len(kernels)
    return out
