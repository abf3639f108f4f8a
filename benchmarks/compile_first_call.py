"""First-call cost of cr.compile on each workload: `python -m benchmarks.compile_first_call`.

For each workload, a fresh process builds the `chainrule-compiled` step and times its first call
(trace while running eagerly + passes + code generation) and second call (the first run of the
generated code, which compiles the numba kernels or loads them from the disk cache). Cold: an
empty kernel cache directory; warm: a second process on the same directory. CPU seconds (the
process's own) are printed too: on a shared machine wall time includes waiting for a core.
`--only W1,W5` picks workloads. `--phases` also prints where the first two calls' CPU time
goes: tracing (the eager run that records the step), the passes, code generation (with fusion
and loop rolling), importing numba, and numba loading or compiling the kernels (2nd call).
"""
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import importlib  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402

CHILD = r"""
import importlib, json, sys, time
PH = {}


def timed(mod, name, label):   # CPU seconds spent in mod.name, added up under label
    f = getattr(mod, name)

    def g(*a, **k):
        t = time.process_time()
        try:
            return f(*a, **k)
        finally:
            PH[label] = PH.get(label, 0.0) + time.process_time() - t
    setattr(mod, name, g)


t0 = time.perf_counter()
mod = importlib.import_module("benchmarks." + sys.argv[1])
from chainrule.compile import build, fuse, loop, passes, plan  # noqa: E402
timed(passes, "optimize", "passes")
timed(plan, "emit", "codegen (with fusion, loop rolling)")
timed(fuse, "fuse", "fusion")
timed(loop, "find_runs", "loop rolling")
timed(build, "Entry", "entry")
sys.modules["chainrule.compile"].Entry = build.Entry
timed(build, "_kernel_module", "numba import")
s = mod.setup(False)
step = mod.IMPLS["chainrule-compiled"](s)
c1 = time.process_time(); t1 = time.perf_counter()
step()
c2 = time.process_time(); t2 = time.perf_counter()
step()
c3 = time.process_time(); t3 = time.perf_counter()
for _ in range(3):
    step()
t4 = time.perf_counter()
PH["tracing"] = c2 - c1 - PH.pop("entry", 0.0)
PH["kernels (2nd call)"] = c3 - c2
print(json.dumps({"first": t2 - t1, "second": t3 - t2, "steady": (t4 - t3) / 3,
                  "first_cpu": c2 - c1, "second_cpu": c3 - c2,
                  "numba": "numba" in sys.modules, "phases": PH}))
"""


def measure(name: str, cache: str) -> dict:
    env = dict(os.environ, CHAINRULE_CACHE=cache)
    out = subprocess.run([sys.executable, "-c", CHILD, name], env=env, capture_output=True,
                         text=True, check=True, cwd=os.path.dirname(os.path.dirname(
                             os.path.abspath(__file__))))
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    import argparse

    from . import WORKLOADS
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="", help="comma-separated workload keys, e.g. W1,W5")
    ap.add_argument("--phases", action="store_true", help="CPU seconds of each phase too")
    ns = ap.parse_args(argv)
    keys = [k.strip().upper() for k in ns.only.split(",") if k.strip()]
    print("workload            cache  1st call s  2nd call s  1st+2nd CPU s  steady ms/step  numba")
    for name in WORKLOADS:
        if keys and not any(name.upper().startswith(k + "_") for k in keys):
            continue
        if "chainrule-compiled" not in importlib.import_module(f"benchmarks.{name}").IMPLS:
            print(f"{name:<19} (no chainrule-compiled row)")
            continue
        with tempfile.TemporaryDirectory() as cache:
            for label in ("cold", "warm"):
                r = measure(name, cache)
                print(f"{name:<19} {label:<5}  {r['first']:10.3f}  {r['second']:10.3f}  "
                      f"{r['first_cpu'] + r['second_cpu']:13.3f}  {r['steady'] * 1e3:14.3f}  "
                      f"{'yes' if r['numba'] else 'no'}")
                if ns.phases:
                    print("    CPU s: " + ", ".join(f"{k} {v:.3f}" for k, v in r["phases"].items()))


if __name__ == "__main__":
    main()
