"""The benchmark runner: `python -m benchmarks [--quick] [--only W1,W3] [--rounds N] [--profile]`.

Pins every BLAS / OpenMP pool to one thread before NumPy is imported, checks each implementation's
losses against the NumPy reference, times them interleaved in rounds, measures peak step memory in
a separate untimed pass, prints a table and (for a full run) writes docs/benchmarks.md.
"""
import os

# NOTE: must run before anything imports NumPy (or torch/jax): thread pools are sized at load time.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
             "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false "
                                   "intra_op_parallelism_threads=1")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import argparse  # noqa: E402
import cProfile  # noqa: E402
import datetime  # noqa: E402
import gc  # noqa: E402
import importlib  # noqa: E402
import io  # noqa: E402
import platform  # noqa: E402
import pstats  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from . import WORKLOADS  # noqa: E402
from .common import REFERENCE, check_losses, peak_memory_mb, time_paired  # noqa: E402

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
MEMORY_TARGET = 1.2   # chainrule's peak step memory / the NumPy reference's (issue 6)


def load_workloads(only=None) -> list:
    """The workload modules, optionally filtered by key (`W1,W3`)."""
    mods = [importlib.import_module(f"benchmarks.{name}") for name in WORKLOADS]
    if only:
        keys = {k.strip().upper() for k in only.split(",") if k.strip()}
        unknown = keys - {m.KEY for m in mods}
        if unknown:
            raise SystemExit(f"benchmarks: unknown workload(s) {sorted(unknown)}; "
                             f"expected some of {[m.KEY for m in mods]}")
        mods = [m for m in mods if m.KEY in keys]
    return mods


def run_workload(mod, quick: bool = False, rounds: int = 21, round_s: float = 0.1,
                 memory: bool = True, clock: str = "cpu", freeze: bool = False, log=print) -> dict:
    """Check, time and measure every installed implementation of one workload; name -> Result."""
    setup = mod.setup(quick)
    results = check_losses(mod.IMPLS, setup, mod.RTOL)
    if freeze:
        # NOTE: torch and jax leave ~330k tracked objects behind after import; every full
        # collection rescans them, which (measured) more than doubles chainrule's W5 time. Freezing
        # what exists now models a process that imported only what it uses. main() unfreezes.
        gc.collect()
        gc.freeze()
    for name, res in results.items():
        if res.error:
            log(f"  {mod.KEY} {name}: skipped: {res.error}")
    ok = {n: r for n, r in results.items() if r.error is None}
    if REFERENCE not in ok:
        raise RuntimeError(f"{mod.KEY}: the NumPy reference failed: {results[REFERENCE].error}")
    steps = {n: mod.IMPLS[n](setup) for n in ok}
    timed = time_paired(steps, rounds, round_s, clock=clock)
    del steps
    for n, (times, ratios) in timed.items():
        ok[n].times_ms, ok[n].ratios = times, ratios
    if memory:
        for n in ok:
            if n.startswith(("numpy", "chainrule")):
                ok[n].peak_mb = peak_memory_mb(mod.IMPLS[n], setup)
    return results


def fmt_row(res, ref_peak) -> list:
    if res.error:
        return [res.impl, "—", "—", "—", "—", "—", res.error]
    q1, q3 = res.iqr_ms
    ratios = sorted(res.ratios)
    peak = "n/a" if res.peak_mb is None else f"{res.peak_mb:.3f}"
    mem_ratio = ("n/a" if res.peak_mb is None or not ref_peak else f"{res.peak_mb / ref_peak:.2f}×")
    return [res.impl, f"{res.median_ms:.3f}", f"{q1:.3f}–{q3:.3f}", f"{res.ratio:.2f}×",
            f"{ratios[0]:.2f}–{ratios[-1]:.2f}", peak, mem_ratio]


HEADER = ["implementation", "median ms/step", "IQR ms", "ratio to NumPy", "ratio min–max",
          "peak MB/step", "memory ratio"]


def table_text(rows) -> str:
    widths = [max(len(str(r[i])) for r in [HEADER] + rows) for i in range(len(HEADER))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(HEADER, widths))]
    for r in rows:
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(r, widths)))
    return "\n".join(lines)


def table_md(rows) -> str:
    out = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    for r in rows:
        if len(r) < len(HEADER):
            r = r + [""] * (len(HEADER) - len(r))
        out.append("| " + " | ".join(str(c) for c in r[:len(HEADER)]) + " |"
                   + ("" if len(r) <= len(HEADER) else f" {r[-1]}"))
    return "\n".join(out)


def machine_info() -> dict:
    """CPU model and cores (from /proc/cpuinfo), Python, NumPy, torch and jax versions."""
    import numpy as np
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    info = {"cpu": cpu, "cores": f"{os.cpu_count()} logical, {usable} usable; benchmarks use 1 thread",
            "os": platform.platform(), "python": platform.python_version(), "numpy": np.__version__}
    try:
        info["blas"] = np.show_config(mode="dicts")["Build Dependencies"]["blas"]["name"]
    except Exception:  # noqa: BLE001 - only informative
        pass
    for mod in ("torch", "jax"):
        try:
            info[mod] = importlib.import_module(mod).__version__
        except ImportError:
            info[mod] = "not installed"
    return info


def summary_rows(all_results, mods) -> list:
    rows = []
    for mod in mods:
        res = all_results[mod.KEY]
        ref = res[REFERENCE]
        cr_, th = res.get("chainrule"), res.get("torch")
        cr_ratio = cr_.ratio if cr_ and not cr_.error else float("nan")
        th_ratio = f"{th.ratio:.2f}×" if th and not th.error else "n/a"
        mem_ratio = (cr_.peak_mb / ref.peak_mb if cr_ and cr_.peak_mb is not None and ref.peak_mb
                     else float("nan"))
        met = "yes" if cr_ratio <= mod.TARGET else "no"
        mem_met = "yes" if mem_ratio <= MEMORY_TARGET else ("no" if mem_ratio == mem_ratio else "n/a")
        rows.append([mod.KEY, f"{cr_ratio:.2f}×", f"≤ {mod.TARGET:.2f}×", met, th_ratio,
                     f"{mod.PEER:.2f}×", f"{mem_ratio:.3f}×", mem_met])
    return rows


def write_markdown(path: Path, all_results, mods, info, command, args, api_source, seconds,
                   overheads=None) -> None:
    lines = ["# Benchmarks", "",
             "Median time of one training step (forward + loss + backward + SGD update), float32, one "
             "thread, as a ratio to hand-written NumPy measured in the same run. Written by "
             "`python -m benchmarks`; numbers below are from the run described here, not edited.", "",
             "## Run", "",
             f"- command: `{command}`",
             f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC} "
             f"(took {seconds:.0f} s)",
             f"- rounds: {args.rounds}, about {args.round_ms:g} ms per implementation per round; "
             f"clock: {'process CPU time' if args.clock == 'cpu' else 'wall time'}; "
             f"gc.freeze() after imports: {'no' if args.no_freeze else 'yes'}",
             f"- sizes: {'tiny (--quick): ratios are not representative' if args.quick else 'as in issue 6'}",
             f"- chainrule model code: {api_source}"]
    lines += [f"- {k}: {v}" for k, v in info.items()]
    lines += ["", "## Summary", "",
              "| workload | chainrule / NumPy | target | met | PyTorch / NumPy (this run) | "
              "PyTorch (issue) | chainrule peak memory / NumPy | memory ≤ 1.2× |",
              "|---|---|---|---|---|---|---|---|"]
    lines += ["| " + " | ".join(r) + " |" for r in summary_rows(all_results, mods)]
    lines += ["", f"Memory target: chainrule peak step memory ≤ {MEMORY_TARGET}× the NumPy reference.",
              ""]
    for mod in mods:
        res = all_results[mod.KEY]
        ref_peak = res[REFERENCE].peak_mb
        lines += [f"## {mod.KEY}: {mod.TITLE}", "", table_md([fmt_row(r, ref_peak)
                                                              for r in res.values()]), ""]
    if overheads:
        lines += ["## Per-op costs (W5 micro-benchmarks)", "",
                  "Best of several repeats, 10-float arrays; `python -m benchmarks --overhead`.", "",
                  "| what | µs (ms where stated) |", "|---|---|"]
        lines += [f"| {k} | {v:.3f} |" for k, v in overheads.items()]
        lines += [""]
    lines += ["## Method", "",
              "- Each implementation starts from the same initial weights and data; its first "
              "3 losses must match the NumPy reference (relative tolerance per workload) or it is "
              "not timed.",
              "- Implementations are interleaved in rounds (order rotated each round); each runs a "
              "calibrated number of steps per round. Time = median over rounds of ms per step; IQR "
              "over rounds. The ratio to NumPy is computed within each round and the median of those "
              "per-round ratios is reported (paired), so machine-wide slowdowns cancel.",
              "- Peak memory: a separate untimed pass with `tracemalloc`: the highest traced "
              "memory during one steady-state step minus the traced memory right after the model was "
              "built (activations, gradients, optimizer buffers, temporaries). torch and jax "
              "allocate outside tracemalloc's view, so their memory is n/a.",
              "- `numpy` is the lecture's flat style (each line allocates); for the MLPs (W1, W3, "
              "W4) it is `benchmarks.common.numpy_mlp_step`, the flat forward and backward written "
              "once for any depth. `numpy-inplace` (W2) reuses buffers with `out=`. `jax` is a "
              "`jax.jit`-compiled whole step (a different execution model: no per-op Python). The "
              "ratio of the `numpy` row is 1 by definition.",
              "- `chainrule` is written as a user would: `cr.nn` modules, `cr.nn.functional` "
              "losses, `loss.backward()`, `cr.optim.SGD`. In W4 its L2 term is "
              "`cr.nn.functional.l2_penalty(params)` (one fused node), the documented way to write "
              "it (README, Neural networks); `chainrule-python-sum-L2` writes it as micrograd's demo and "
              "the torch row do, `sum((p * p).sum() for p in params)` (two nodes per parameter).",
              "- Clock: process CPU time by default (`--clock wall` for wall time): on a shared "
              "machine it leaves out time spent waiting for a core. After the imports, the runner "
              "calls `gc.freeze()` (`--no-freeze` to skip) so that the ~330k objects torch and jax "
              "leave behind are not rescanned by every full garbage collection: that cost would "
              "fall on chainrule's big graphs (W5) although a chainrule-only process never has it.",
              "- BLAS/OpenMP thread pools are pinned to 1 (`OMP_NUM_THREADS`, "
              "`OPENBLAS_NUM_THREADS`, `MKL_NUM_THREADS` set before NumPy is imported; "
              "`torch.set_num_threads(1)`; XLA single-threaded).", ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    analysis = Path(__file__).with_name("ANALYSIS.md")   # hand-written: what misses and why
    if analysis.exists():
        lines += [analysis.read_text().rstrip("\n"), ""]
    path.write_text("\n".join(lines))


def profile_chainrule(mod, quick: bool, steps: int, top: int = 25, log=print) -> str:
    """cProfile the chainrule implementation of one workload; returns the pstats text."""
    setup = mod.setup(quick)
    step = mod.IMPLS["chainrule"](setup)
    step()
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(steps):
        step()
    prof.disable()
    out = io.StringIO()
    areas = profile_by_area(pstats.Stats(prof))   # before strip_dirs: areas need full paths
    st = pstats.Stats(prof, stream=out).strip_dirs()
    st.sort_stats("cumulative").print_stats(top)
    st.sort_stats("tottime").print_stats(top)
    text = out.getvalue() + "\n" + areas
    log(f"==== {mod.KEY} chainrule profile, {steps} steps\n{text}")
    return text


def profile_by_area(st: pstats.Stats) -> str:
    """Own time (tottime) summed by where the code lives, as % of the total.

    NumPy work written as operators inside a rule (`x @ w.T`, `g * y`) is not a call cProfile
    sees: it is counted in the own time of the rule (ops/*.py) that runs it.
    """
    areas = {}
    total = 0.0
    for (filename, _, func), (_, _, tottime, _, _) in st.stats.items():
        path = filename.replace("\\", "/")
        if filename == "~":
            area = ("NumPy C functions (ufunc reduce, array methods)" if "numpy" in func
                    else "Python built-ins (isinstance, list.append, heapq, ...)")
        elif "/chainrule/ops/" in path:
            area = "chainrule ops rules: forward/vjp incl. array operators run inside"
        elif path.endswith("chainrule/autograd.py"):
            area = "chainrule engine (autograd.py: apply, record, run_backward)"
        elif "/chainrule/" in path:
            area = "chainrule API layers (tensor, functions, nn, optim)"
        elif "/numpy/" in path:
            area = "NumPy Python wrappers (fromnumeric, _methods, stride_tricks)"
        elif "/benchmarks/" in path:
            area = "benchmark step code (operators on tensors in the step body)"
        else:
            area = "other"
        areas[area] = areas.get(area, 0.0) + tottime
        total += tottime
    lines = ["own time by area:"]
    for area, t in sorted(areas.items(), key=lambda kv: -kv[1]):
        lines.append(f"  {100 * t / total:5.1f}%  {area}")
    return "\n".join(lines) + "\n"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks",
                                description="Time chainrule training steps against NumPy.")
    p.add_argument("--quick", action="store_true", help="tiny sizes, few rounds (smoke test)")
    p.add_argument("--only", default=None, help="comma-separated workloads, e.g. W1,W3")
    p.add_argument("--rounds", type=int, default=None, help="timing rounds (default 21; quick 2)")
    p.add_argument("--round-ms", type=float, default=None,
                   help="time per implementation per round in ms (default 100; quick 2)")
    p.add_argument("--no-memory", action="store_true", help="skip the tracemalloc pass")
    p.add_argument("--clock", choices=("cpu", "wall"), default="cpu",
                   help="cpu: process CPU time (default, steadier on a shared machine); wall")
    p.add_argument("--no-freeze", action="store_true",
                   help="do not gc.freeze() the objects torch/jax imports leave behind")
    p.add_argument("--out", default=None,
                   help="markdown file to write (default docs/benchmarks.md for a full run; "
                        "'-' writes nothing)")
    p.add_argument("--profile", action="store_true",
                   help="instead of timing, cProfile chainrule's step on each workload")
    p.add_argument("--overhead", action="store_true",
                   help="instead of timing, print per-op overheads in µs (W5 micro-benchmarks)")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    args.rounds = args.rounds or (2 if args.quick else 21)
    args.round_ms = args.round_ms or (2.0 if args.quick else 100.0)
    mods = load_workloads(args.only)
    if args.overhead:
        from .w5_tanh_chain import overhead
        for what, value in (overhead(50, 2, 200) if args.quick else overhead()).items():
            print(f"{what:<62} {value:9.3f}")
        return 0
    if args.profile:
        for mod in mods:
            profile_chainrule(mod, args.quick, steps={"W2": 3, "W3": 30, "W5": 20}.get(mod.KEY, 300))
        return 0
    command = "python -m benchmarks" + ("" if argv is None and len(sys.argv) <= 1 else
                                        " " + " ".join(sys.argv[1:] if argv is None else argv))
    api_source = "cr.nn + cr.optim, as a user writes it (benchmarks/w*.py)"
    t0 = time.perf_counter()
    all_results = {}
    try:
        overheads = _run_all(mods, args, all_results)
    finally:
        if not args.no_freeze:
            gc.unfreeze()
    seconds = time.perf_counter() - t0
    print(f"chainrule model code: {api_source}; {seconds:.0f} s")
    out = args.out
    if out is None and not args.quick and not args.only:
        out = str(DOC)
    if out and out != "-":
        write_markdown(Path(out), all_results, mods, machine_info(), command, args, api_source,
                       seconds, overheads)
        print(f"wrote {out}")
    return 0


def _run_all(mods, args, all_results):
    for mod in mods:
        print(f"{mod.KEY}: {mod.TITLE}", flush=True)
        res = run_workload(mod, args.quick, args.rounds, args.round_ms / 1e3,
                           memory=not args.no_memory, clock=args.clock,
                           freeze=not args.no_freeze)
        all_results[mod.KEY] = res
        ref_peak = res[REFERENCE].peak_mb
        print(table_text([fmt_row(r, ref_peak) for r in res.values()]), flush=True)
        print(flush=True)
    overheads = None
    if any(m.KEY == "W5" for m in mods):
        from .w5_tanh_chain import overhead
        overheads = (overhead(links=50, repeat=2, number=200) if args.quick else overhead())
        print("per-op costs, µs (W5 micro-benchmarks, best of repeats):")
        for what, value in overheads.items():
            print(f"  {what:<62} {value:9.3f}")
    return overheads


if __name__ == "__main__":
    sys.exit(main())
