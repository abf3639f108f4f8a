"""Loop rolling inside a fused kernel: a run of structurally identical blocks becomes a `for` loop.

A chain of identical links (W5's 1000 × `x + 0.01*tanh(x)`) and the mirrored run of its
backward trace into thousands of scalar statements; numba (LLVM) compile time grows faster than
linearly with function size, so the unrolled kernel took ~1 minute to compile. Here a block of
`p` equations repeated `R` times is found when every block does the same operations with the same
constants and reads, at the same relative positions, values of its own block, of the previous
block (the carried values: `x` of a link), fixed values, or values of another run walked in the
same or in the opposite order (the backward reading the forward's saved `tanh(x)`). The kernel
then holds one copy of the block inside `for r in range(R)`; carried values live in per-element
arrays `c*`, values read outside the loop in `[R, n]` arrays `s*` (what the backward saves).

The kernel becomes segments (straight statements or a rolled run), each its own loop over the
elements, so the elements of one link are independent statements (the CPU overlaps their tanh
calls); values crossing segments go through per-element arrays `w*`. Outputs are written in the
last segment only, after every read, as the unrolled kernel did (an output may be an input's
array, updated in place).
"""
from __future__ import annotations

import bisect

import numpy as np

from ..program import Var

MIN_REPEATS = 4     # fewer repeats stay unrolled
MAX_PERIOD = 64     # the longest block looked for, in equations


def _key(e, is_value):
    """What two equations must share to be one statement of a loop: op, dtypes, constants."""
    parts = [e.prim.name, e.out.dtype]
    for x in e.inputs:
        if isinstance(x, Var) or is_value(x):   # a Var without the call: the common case
            parts.append(x.dtype)
        elif type(x) in (float, int, bool):
            parts.append((type(x), x))
        else:
            v = np.asarray(x)
            parts.append((type(x).__name__, v.dtype.str, v.item()))
    return tuple(parts)


class Run:
    """Equations start .. start + period*repeats - 1: `repeats` blocks of `period` equations."""

    def __init__(self, index, start, period, repeats, order):
        self.index, self.start, self.period, self.repeats = index, start, period, repeats
        self.order = order          # (position, input number) -> +1/-1: walk of a saved read
        self.carried = set()        # positions read by the next block
        self.saved = set()          # positions read outside the loop (kept per repeat)

    def __contains__(self, idx):
        return self.start <= idx < self.start + self.period * self.repeats


def _describe(eqns, pos, owner, a, p, idx, is_value):
    """How equation idx (in a block of period p of a run starting at a) reads each value: ("d",
    distance) inside its block or the previous one, ("s", run, position, block) from another
    run, ("x", id) anything else (the same value in every block)."""
    lo = a + ((idx - a) // p - 1) * p
    out = []
    for x in eqns[idx].inputs:
        if isinstance(x, Var):
            b = pos.get(id(x))
        elif is_value(x):
            b = None
        else:
            continue
        if b is not None and b >= lo:
            out.append(("d", idx - b))
        elif b is not None and b in owner:
            r, k, j = owner[b]
            out.append(("s", r, j, k))
        else:
            out.append(("x", id(x)))
    return out


def _repeats(eqns, keys, pos, owner, a, p, is_value):
    """How many blocks of period p starting at a repeat block 0, and each saved read's walk."""
    if keys[a:a + p] != keys[a + p:a + 2 * p]:   # cheap test first: most tries fail here
        return 1, {}
    base = [_describe(eqns, pos, owner, a, p, a + j, is_value) for j in range(p)]
    order = {}
    k = 1
    while a + (k + 1) * p <= len(eqns):
        for j in range(p):
            idx = a + k * p + j
            if keys[idx] != keys[a + j]:
                return k, order
            now = _describe(eqns, pos, owner, a, p, idx, is_value)
            for t, (u, v) in enumerate(zip(base[j], now)):
                if u[0] != "s" or v[0] != "s":
                    if u != v:
                        return k, order
                    continue
                if u[1:3] != v[1:3]:
                    return k, order
                step = v[3] - u[3]
                if k == 1 and step in (1, -1):
                    order[(j, t)] = step
                elif order.get((j, t), 0) * k != step:
                    return k, order
        k += 1
    return k, order


def find_runs(eqns, is_value):
    """The runs of a kernel's equations (in order, not overlapping), each of MIN_REPEATS+ blocks."""
    m = len(eqns)
    if m < 2 * MIN_REPEATS:
        return []
    pos = {id(e.out): k for k, e in enumerate(eqns)}
    keys = [_key(e, is_value) for e in eqns]
    where = {}
    for k, key in enumerate(keys):
        where.setdefault(key, []).append(k)
    owner, runs, a = {}, [], 0
    while a < m:
        lst, found = where[keys[a]], None
        for b in lst[bisect.bisect_right(lst, a):]:
            p = b - a
            if p > MAX_PERIOD or a + p * MIN_REPEATS > m:
                break
            r, order = _repeats(eqns, keys, pos, owner, a, p, is_value)
            if r >= MIN_REPEATS:
                found = Run(len(runs), a, p, r, order)
                break
        if found is None:
            a += 1
            continue
        for k in range(found.repeats):
            for j in range(found.period):
                owner[a + k * found.period + j] = (found.index, k, j)
        runs.append(found)
        a += found.period * found.repeats
    return runs


def rolled_source(kernel, name, runs, statement, is_value, outs):
    """The kernel's lines with `runs` as loops. statement(e, operand) -> source of e's value."""
    eqns, inputs = kernel.eqns, kernel.inputs
    pos = {id(e.out): k for k, e in enumerate(eqns)}
    run_at = {}
    for run in runs:
        for idx in range(run.start, run.start + run.period * run.repeats):
            run_at[idx] = run
    segs, seg_of = [], {}        # ("s", [indices]) straight statements, ("r", run) a loop
    idx = 0
    while idx < len(eqns):
        run = run_at.get(idx)
        if run is not None:
            segs.append(("r", run))
            end = run.start + run.period * run.repeats
            seg_of.update((k, len(segs) - 1) for k in range(run.start, end))
            idx = end
            continue
        if not segs or segs[-1][0] != "s":
            segs.append(("s", []))
        segs[-1][1].append(idx)
        seg_of[idx] = len(segs) - 1
        idx += 1
    final = len(segs) - 1 if segs[-1][0] == "s" else len(segs)
    arg = {id(x): f"a{k}" for k, x in enumerate(inputs)}
    scratch = set()    # straight equations read in another segment: kept in w<index>[i]

    def reads(run, j):
        """(input, kind, index of the value read or None, walk) for position j of a run."""
        idx = run.start + j
        descs = _describe(eqns, pos, {}, run.start, run.period, idx, is_value)
        xs = [x for x in eqns[idx].inputs if is_value(x)]
        for t, (x, d) in enumerate(zip(xs, descs)):
            b = pos.get(id(x)) if isinstance(x, Var) else None
            yield x, d, b, run.order.get((j, t))

    def home(b, seg):
        """Mark what reading eqns[b] from segment seg (outside b's loop body) needs."""
        run = run_at.get(b)
        if run is None:
            if seg_of[b] != seg:
                scratch.add(b)
            return
        k, j = divmod(b - run.start, run.period)
        if not (k == run.repeats - 1 and j in run.carried):
            run.saved.add(j)

    for run in runs:   # carried positions first: they decide what outside reads of a run need
        for j in range(run.period):
            for _, d, _, _ in reads(run, j):
                if d[0] == "d" and d[1] > j:
                    run.carried.add(j - d[1] + run.period)
    inits = {run.index: {jj: run.start - run.period + jj for jj in sorted(run.carried)}
             for run in runs}
    for s, (kind, body) in enumerate(segs):
        if kind == "s":
            for idx in body:
                for x in eqns[idx].inputs:
                    if isinstance(x, Var) and id(x) in pos:
                        home(pos[id(x)], s)
            continue
        for b in inits[body.index].values():   # copied at the end of the previous loop
            home(b, s - 1 if s and segs[s - 1][0] == "s" else s)
        for j in range(body.period):
            for x, d, b, walk in reads(body, j):
                if b is None or d[0] == "d":
                    continue
                if walk is not None:
                    other = run_at[b]
                    other.saved.add((b - other.start) % other.period)
                else:
                    home(b, s)
    for var in kernel.outputs:
        home(pos[id(var)], final)

    def read(x, where):
        """Source of value x read in segment `where`, outside the loop body that computes it."""
        if id(x) in arg:
            return f"{arg[id(x)]}[i]" if x.shape else arg[id(x)]
        b = pos[id(x)]
        run = run_at.get(b)
        if run is None:
            return f"v{b}" if seg_of[b] == where else f"w{b}[i]"
        k, j = divmod(b - run.start, run.period)
        if k == run.repeats - 1 and j in run.carried:
            return f"c{run.index}_{j}[i]"
        return f"s{run.index}_{j}[{k}, i]"

    args = [f"a{k}" for k in range(len(inputs))] + outs
    from .fuse import DECORATOR
    lines = [DECORATOR, f"def {name}({', '.join(args)}):", f"    n = {outs[0]}.size"]
    for b in sorted(scratch):
        lines.append(f"    w{b} = np.empty(n, {_dt(eqns[b].out.dtype)})")
    for run in runs:
        for jj in sorted(run.carried):
            lines.append(f"    c{run.index}_{jj} = np.empty(n, "
                         f"{_dt(eqns[run.start + jj].out.dtype)})  # carried to the next repeat")
        for jj in sorted(run.saved):
            lines.append(f"    s{run.index}_{jj} = np.empty(({run.repeats}, n), "
                         f"{_dt(eqns[run.start + jj].out.dtype)})  # one row per repeat")

    def write_outputs(where):
        for o, var in zip(outs, kernel.outputs):
            lines.append(f"        {o}[i] = {read(var, where)}")

    for s, (kind, body) in enumerate(segs):
        if kind == "s":
            lines.append("    for i in range(n):")
            for idx in body:
                e = eqns[idx]
                text = statement(e, lambda x, _s=s: read(x, _s))
                lines.append(f"        v{idx} = {text}  # {e.out.name} = {e.prim.name}")
                if idx in scratch:
                    lines.append(f"        w{idx}[i] = v{idx}")
            if s + 1 < len(segs):    # the next loop's carried values start here
                for jj, b in inits[segs[s + 1][1].index].items():
                    lines.append(f"        c{segs[s + 1][1].index}_{jj}[i] = "
                                 f"{read(eqns[b].out, s)}")
            if s == final:
                write_outputs(s)
            continue
        run = body
        if inits[run.index] and not (s and segs[s - 1][0] == "s"):
            lines.append("    for i in range(n):")
            for jj, b in inits[run.index].items():
                lines.append(f"        c{run.index}_{jj}[i] = {read(eqns[b].out, s)}")
        end = eqns[run.start + run.period * run.repeats - 1].out.name
        lines.append(f"    for r in range({run.repeats}):  # {eqns[run.start].out.name} .. "
                     f"{eqns[run.start + run.period - 1].out.name} and {run.repeats - 1} "
                     f"repeats, the last ending at {end}")
        lines.append("        for i in range(n):")
        for j in range(run.period):
            idx = run.start + j
            ops = {}
            for x, d, b, walk in reads(run, j):
                if d[0] == "d":
                    jb = j - d[1]
                    ops[id(x)] = f"v{run.start + jb}" if jb >= 0 else \
                        f"c{run.index}_{jb + run.period}[i]"
                elif walk is not None:
                    other = run_at[b]
                    k0, jb = divmod(b - other.start, other.period)
                    ops[id(x)] = f"s{other.index}_{jb}[{k0} {'+' if walk > 0 else '-'} r, i]"
                else:
                    ops[id(x)] = read(x, s)
            e = eqns[idx]
            text = statement(e, lambda x, _o=ops: _o[id(x)])
            lines.append(f"            v{idx} = {text}  # {e.out.name} = {e.prim.name}")
            if j in run.saved:
                lines.append(f"            s{run.index}_{j}[r, i] = v{idx}")
        for jj in sorted(run.carried):
            lines.append(f"            c{run.index}_{jj}[i] = v{run.start + jj}")
    if final == len(segs):
        lines.append("    for i in range(n):")
        write_outputs(final)
    return lines


def _dt(dtype) -> str:
    return "np.bool_" if dtype.kind == "b" else f"np.{dtype.name}"
