"""README.md read the way a newcomer reads it, so what it shows stays true.

* Every section's Python blocks run in order in one fresh interpreter state per section (a child
  forked from one driver right after `import chainrule`, in a temporary folder). Where a statement is followed by what it prints (a comment after
  `print(...)`, the comment lines right below it, `>>>` output, or an output block right after the
  code) the printed text must match it; `...` stands for anything, whitespace runs count as one.
  A comment that reads as prose ("# nested repr, as in PyTorch") is not compared.
* Every command it shows exists: `make` targets, `python -m chainrule SUB ...` parses with the CLI's
  own parser (flags, choices, arguments) and `SUB --help` runs, `python -m benchmarks...` flags are
  in that module's `--help`, scripts and test files exist, `chainrule[extra]` is a declared extra.
* `python -m chainrule explain` transcripts print exactly what is shown; `graph` commands run.
* Relative links and images resolve, including `#anchors` into other markdown files; names the
  prose gives in code (`Maxout(in, out, pieces)`, `cumsum cumprod`, `cr.viz.node_grads`) exist; the
  package layout under "How it is built" lists what chainrule/ holds.
* The `>>>` examples in chainrule's docstrings run.

Slow commands (training runs, benchmarks, mpirun) are checked for their flags, not run.
The reading and the driver are in tests/readme_tools.py.
"""
from __future__ import annotations

import ast
import contextlib
import importlib.util
import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from readme_tools import (README, ROOT, _argv, _comments, _doctest, _segment, _shown_after, _slug,
                          commands, is_prose, lines_shown, prose, python_sections, sections,
                          shown_matches)

TOOLS = str(Path(__file__).resolve().parent / "readme_tools.py")


def _needs(code):
    """Why this section cannot run here, or None: optional extras its code uses."""
    if "init_process_group" in code:
        return "needs `mpirun -n 2` (tests/test_distributed.py runs data-parallel training)"
    if ("cr.viz.draw(" in code or ".render(" in code) and importlib.util.find_spec("graphviz") is None:
        return "needs the graphviz Python package (pip install 'chainrule[viz]')"
    if (".render(" in code or "cr.viz.html(" in code) and shutil.which("dot") is None:
        return "needs graphviz's dot program (apt-get install graphviz)"
    if "cr.data.digits(" in code and importlib.util.find_spec("sklearn") is None:
        return "needs scikit-learn for cr.data.digits (pip install 'chainrule[data]')"
    return None


PY_SECTIONS = python_sections()
SKIPPED = [(t, line, _needs("\n".join(b["body"] for b in blocks))) for t, line, blocks in PY_SECTIONS]
SKIPPED = [s for s in SKIPPED if s[2]]


def _problems(title, records):
    """What is wrong in one section's records, as messages."""
    out = []
    for rec in records:
        where = f"README.md:{rec['line']} ({title}): {rec['code'][:70]!r}"
        shown = rec["shown"]
        if rec["error"] and not (shown and shown.startswith(rec["error"].split(":")[0] + ":")):
            out.append(f"{where} raised {rec['error']}")
        elif shown is None:
            continue
        elif rec.get("block"):
            if not lines_shown(shown, rec["printed"]):
                out.append(f"{where}: the output block is not in what was printed:\n{rec['printed']}")
        elif rec["error"]:
            if not shown_matches(shown, rec["error"]):
                out.append(f"{where}: shows {shown!r}, raised {rec['error']!r}")
        elif not is_prose(shown) and (rec["printed"] or rec["code"].startswith("print(")):
            if not shown_matches(shown, rec["printed"]):
                out.append(f"{where}: shows {shown!r}, printed {rec['printed']!r}")
        elif rec["code"].startswith("print(") and not rec["printed"].strip():
            out.append(f"{where} printed nothing")
    return out


def test_python_sections_run_and_print_what_is_shown(tmp_path):
    """Each section in its own fresh interpreter state (a fork per section, see run_all)."""
    runnable = []
    for title, line, blocks in PY_SECTIONS:
        for b in blocks:
            if not b["body"].lstrip().startswith(">>>"):
                compile(b["body"], f"README.md:{b['line']}", "exec")   # even a skipped block parses
        if not any(title == t for t, _, _ in SKIPPED):
            sub = tmp_path / str(len(runnable))
            sub.mkdir()
            (sub / "blocks.json").write_text(json.dumps(blocks))
            runnable.append((title, sub))
    assert len(runnable) >= 12
    r = subprocess.run([sys.executable, TOOLS, str(tmp_path)], capture_output=True, text=True,
                       timeout=600, env={**os.environ, "MPLBACKEND": "Agg"})
    assert r.returncode == 0, r.stderr[-3000:]
    problems = []
    for title, sub in runnable:
        if not (sub / "result.json").exists():
            problems.append(f"{title}: the section's process died\n{r.stderr[-2000:]}")
        else:
            problems += _problems(title, json.loads((sub / "result.json").read_text()))
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("title,line,reason", SKIPPED, ids=[f"L{line}" for _, line, _ in SKIPPED])
def test_sections_needing_what_is_missing(title, line, reason):
    """Reports the sections the test above leaves out, each as a skip saying what it needs."""
    pytest.skip(f"README.md:{line} ({title}) {reason}")


def test_the_readme_shows_output_that_is_compared():
    """The comparison above is not vacuous: count the shown outputs it checks."""
    shown = 0
    for _, _, blocks in PY_SECTIONS:
        for b in blocks:
            if b["shown"]:
                shown += 1
            if b["body"].lstrip().startswith(">>>"):
                shown += sum(1 for _, out in _doctest(b["body"]) if out.strip())
                continue
            comments = _comments(b["body"])
            shown += sum(1 for s in ast.parse(b["body"]).body if isinstance(s, ast.Expr)
                         and _segment(b["body"], s).startswith("print(")
                         and (c := _shown_after(s, comments)) and not is_prose(c))
    assert shown >= 25, shown


def test_comparison_rules():
    assert shown_matches("True: backprop agrees with numerical gradients", "True\n")
    assert shown_matches("tensor(0.7864)   = 1 − tanh²(0.5)", "tensor(0.7864)\n")
    assert not shown_matches("tensor(0.7864)   = 1 − tanh²(0.5)", "tensor(0.7865)\n")
    assert shown_matches("... gradients: dL/dx = -4.00", "backward of L\n  gradients: dL/dx = -4.00\n")
    assert not shown_matches("f = 0.73", "f = 0.74")
    assert is_prose("nested repr, as in PyTorch") and is_prose("4 backward passes, one per row")
    assert not is_prose("f = 0.73") and not is_prose("True: yes") and not is_prose("(4, 10, 32)")
    assert lines_shown("a\n...\nc", "x\na\nb\nb\nc\n") and not lines_shown("a\nc", "a\nb\nc")




_HELP = {}


def _help(module):
    if module not in _HELP:
        r = subprocess.run([sys.executable, "-m", module, "--help"], cwd=ROOT, capture_output=True,
                           text=True, timeout=120)
        assert r.returncode == 0, f"python -m {module} --help failed: {r.stderr[-500:]}"
        _HELP[module] = r.stdout
    return _HELP[module]


def _cli_error(args):
    """None if `python -m chainrule ARGS` parses with the CLI's parser, else argparse's message."""
    from chainrule.cli import build_parser
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            build_parser().parse_args(args)
    except SystemExit as e:
        return None if e.code == 0 else err.getvalue().strip().splitlines()[-1]
    return None


COMMANDS = commands()


@pytest.mark.parametrize("line,cmd", COMMANDS, ids=[f"L{ln}" for ln, _ in COMMANDS])
def test_shown_commands_exist(line, cmd):
    argv, where = _argv(cmd), f"README.md:{line}: {cmd}"
    if argv[0] == "make":
        targets = re.findall(r"^([\w-]+):", (ROOT / "Makefile").read_text(), re.M)
        assert all(t in targets for t in argv[1:]), f"{where}: Makefile targets are {targets}"
    elif argv[:3] == ["python", "-m", "chainrule"]:
        assert _cli_error(argv[3:]) is None, f"{where}: {_cli_error(argv[3:])}"
    elif argv[:2] == ["python", "-m"] and argv[2] in ("pip", "pytest"):
        for arg in argv[3:]:
            if argv[2] == "pytest" and not arg.startswith("-") and not arg[0].isdigit():
                assert list(ROOT.glob(arg)), f"{where}: no file {arg}"
    elif argv[:2] == ["python", "-m"]:
        module = argv[2]
        assert importlib.util.find_spec(module.split(".")[0]) or (ROOT / module.split(".")[0]).is_dir()
        flags = [a.split("=")[0] for a in argv[3:] if a.startswith("--")]
        if flags:
            known = set(re.findall(r"--[\w-]+", _help(module)))
            assert set(flags) <= known, f"{where}: {set(flags) - known} not in {sorted(known)}"
        elif not (ROOT / (module.replace(".", "/") + ".py")).exists():
            assert importlib.util.find_spec(module), f"{where}: no module {module}"
    elif argv[0] == "python" and "/" in argv[1]:
        assert (ROOT / argv[1]).is_file(), f"{where}: no file {argv[1]}"


SUBCOMMANDS = sorted({_argv(c)[3] for _, c in COMMANDS if _argv(c)[:3] == ["python", "-m", "chainrule"]})
# `python -m chainrule SUB --help` for every SUB, in one interpreter: runpy runs __main__ as -m does.
HELPS = """
import contextlib, io, json, runpy, sys
out = {}
for sub in sys.argv[1:]:
    sys.argv, buf = ["chainrule", sub, "--help"], io.StringIO()
    with contextlib.redirect_stdout(buf):
        try:
            runpy.run_module("chainrule", run_name="__main__", alter_sys=True)
        except SystemExit as e:
            out[sub] = (e.code, buf.getvalue())
print(json.dumps(out))
"""


def test_subcommand_help_runs():
    assert {"train", "eval", "graph", "explain", "demo", "playground"} <= set(SUBCOMMANDS)
    r = subprocess.run([sys.executable, "-c", HELPS] + SUBCOMMANDS, cwd=ROOT, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    helps = json.loads(r.stdout)
    for sub in SUBCOMMANDS:
        code, text = helps[sub]
        assert code in (0, None) and text.startswith(f"usage: python -m chainrule {sub}"), (sub, text)
    assert "COMMAND" in _help("chainrule")


def test_flags_named_in_the_text_exist():
    """A flag the prose names (`--lr`, `--out DIR`, `--monitor`, ...) belongs to some command."""
    from chainrule.cli import build_parser
    sub = next(a for a in build_parser()._actions if isinstance(a, __import__("argparse")._SubParsersAction))
    known = {o for p in sub.choices.values() for o in p._option_string_actions}
    known |= set(re.findall(r"--[\w-]+", _help("benchmarks") + _help("benchmarks.scaling_w3")))
    known |= {"--allow-run-as-root"}          # Open MPI's, for running as root
    named = {m.group(1) for m in re.finditer(r"`(--[a-z][\w-]*)", prose())}
    assert len(named) > 10 and named <= known, sorted(named - known)


def test_extras_named_exist():
    declared = re.search(r"\[project\.optional-dependencies\](.*?)(?:\n\[|\Z)",
                         (ROOT / "pyproject.toml").read_text(), re.S).group(1)
    extras = set(re.findall(r"^(\w+)\s*=", declared, re.M))
    named = set(re.findall(r"chainrule\[(\w+)\]", README.read_text(encoding="utf-8")))
    assert named and named <= extras, sorted(named - extras)


def _transcripts(program):
    """[(line, command, shown output)] of `$ ` transcripts whose command starts with `program`."""
    out = []
    for _, _, blocks in sections():
        for b in blocks:
            parts = re.split(r"^\$ (.*)$", b["body"], flags=re.M)
            for k in range(1, len(parts), 2):
                if parts[k].startswith(program):
                    out.append((b["line"], parts[k], parts[k + 1].strip("\n")))
    return out


EXPLAIN = _transcripts("python -m chainrule explain") + _transcripts("python -m chainrule train spirals")


@pytest.mark.parametrize("line,cmd,shown", EXPLAIN, ids=[f"L{ln}" for ln, _, _ in EXPLAIN])
def test_transcripts_print_what_is_shown(line, cmd, shown, tmp_path):
    """Run as shown; a training run without drawing its plots (3 s of matplotlib; test_monitor.py
    checks monitor.png), so its `wrote ....png` lines are not compared."""
    argv = _argv(cmd)
    extra = ["--no-progress", "--no-plots"] if "train" in cmd else []
    if extra:
        shown = "\n".join("..." if re.fullmatch(r"wrote \S+\.png", ln.strip()) else ln
                          for ln in shown.split("\n"))
    r = subprocess.run([sys.executable] + argv[1:] + extra, cwd=tmp_path, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert lines_shown(shown, r.stdout), f"README.md:{line}: {cmd} printed\n{r.stdout}"


GRAPHS = [(ln, c) for ln, c in COMMANDS if c.startswith("python -m chainrule graph")]


@pytest.mark.parametrize("line,cmd", GRAPHS, ids=[f"L{ln}" for ln, _ in GRAPHS])
def test_graph_commands_write_their_file(line, cmd, tmp_path):
    if shutil.which("dot") is None:
        pytest.skip("needs graphviz's dot program (apt-get install graphviz)")
    argv = _argv(cmd)
    out = argv[argv.index("-o") + 1]
    (tmp_path / out).parent.mkdir(parents=True, exist_ok=True)
    r = subprocess.run([sys.executable] + argv[1:], cwd=tmp_path, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0 and r.stdout.startswith(f"wrote {out}"), r.stderr[-2000:]
    assert (tmp_path / out).stat().st_size > 1000
    assert (ROOT / out).is_file(), f"README.md:{line} shows {out}, which is not in the repository"


# ---------------------------------------------------------------- links
def test_links_and_images_resolve():
    bad = []
    for target in re.findall(r"\]\(([^)\s]+)\)", prose()):
        if re.match(r"https?://", target):
            continue
        path, _, anchor = target.partition("#")
        file = README.parent / path if path else README
        if not file.exists():
            bad.append(f"{target}: no file")
        elif anchor:
            heads = re.findall(r"^#{1,6} (.*)$", prose(file), re.M)
            if anchor not in {_slug(h) for h in heads}:
                bad.append(f"{target}: no heading with that anchor")
    assert not bad, bad


def test_the_layout_lists_what_is_in_the_package():
    """'How it is built': every name in its first column exists under chainrule/, and every
    module and subpackage of chainrule/ is listed."""
    tree = next(b["body"] for t, _, blocks in sections() if t == "How it is built" for b in blocks
                if b["body"].startswith("chainrule/"))
    listed = set()
    for ln in tree.split("\n")[1:]:
        if re.match(r"  \S", ln):
            listed |= {n.rstrip("/") for n in re.split(r"\s{2,}", ln.strip())[0].split()}
    pkg = ROOT / "chainrule"
    assert {n for n in listed if not (pkg / n).exists()} == set()
    have = {p.name for p in pkg.iterdir() if p.suffix == ".py" and not p.name.startswith("__")}
    have |= {p.name for p in pkg.iterdir() if (p / "__init__.py").exists()}
    assert have <= listed, sorted(have - listed)
    for name in re.findall(r"\b(\w+)\.py\b", tree):     # files named in the descriptions
        assert list(pkg.rglob(f"{name}.py")), name


NOT_API = {"W1", "W2", "W3", "W4", "W5", "W6", "W7", "W8", "LR", "DIR", "HOST", "PID", "Tensors",
           "TORCH"}   # workload names, metavars, the oracle test's table


def test_names_in_the_text_exist():
    """Every class and function the prose names in code (`Maxout(in, out, pieces)`, `cumsum
    cumprod`, `cr.viz.node_grads(...)`) exists in chainrule (or is Python's/NumPy's)."""
    import builtins

    import numpy as np

    import chainrule as cr
    import chainrule.distributed
    import chainrule.io
    import chainrule.nn.parallel
    import chainrule.ops
    import chainrule.ops.base
    import chainrule.train
    spaces = [cr, cr.Tensor, cr.nn, cr.nn.functional, cr.nn.init, cr.nn.utils.rnn, cr.optim,
              cr.optim.lr_scheduler, cr.linalg, cr.data, cr.data.transforms, cr.viz, cr.check,
              chainrule.ops, chainrule.ops.base, chainrule.train, chainrule.io, chainrule.nn.parallel,
              chainrule.distributed, chainrule.distributed.ReduceOp, builtins, np.exceptions]
    text, names = prose(), set()
    for span in re.findall(r"`([^`]+)`", text):
        names |= set(re.findall(r"(?<![\w.])[A-Z][A-Za-z0-9]*[a-z][A-Za-z0-9]*(?![\w])", span))
        tokens = span.split()
        if len(tokens) > 1 and tokens[0] not in ("make", "import", "python", "pip") and all(
                re.fullmatch(r"[a-z_][a-z0-9_/]*", t) for t in tokens):
            names |= {n for t in tokens for n in t.split("/") if not re.fullmatch(r"\d+d", n)}
    missing = sorted(n for n in names - NOT_API if not any(hasattr(s, n) for s in spaces))
    assert len(names) > 150 and not missing, missing
    dotted = set(re.findall(r"\bcr\.((?:[a-zA-Z_]\w*\.)*[a-zA-Z_]\w*)", README.read_text(encoding="utf-8")))
    made_here = set(re.findall(r'api = "(\w+)"', README.read_text(encoding="utf-8")))   # 'Adding an op'
    unresolved = []
    for path in (p for p in dotted if p.split(".")[-1] not in made_here):
        obj = cr
        for part in path.split("."):
            if not hasattr(obj, part):
                unresolved.append(path)
                break
            obj = getattr(obj, part)
    assert len(dotted) > 50 and not unresolved, sorted(unresolved)


SLOW_OR_OUTSIDE = (
    "chainrule.distributed,chainrule.nn.parallel,chainrule.__main__",     # need mpirun
    ",".join(["chainrule.train", "chainrule.train.train", "chainrule.train.train_digits",  # train
              "chainrule.data.digits.digits",                             # loads scikit-learn
              "chainrule.functions.expose.expose"]))                      # re-declares cr.var


def test_docstring_examples_run(tmp_path):
    """The `>>>` examples of chainrule's docstrings run (fragments that use names their text
    introduces stop at the first such name); training runs and MPI are left out."""
    r = subprocess.run([sys.executable, TOOLS, "--docstrings", *SLOW_OR_OUTSIDE], cwd=tmp_path,
                       capture_output=True, text=True, timeout=300,
                       env={**os.environ, "MPLBACKEND": "Agg"})
    assert r.returncode == 0, r.stderr[-3000:]
    count, report = json.loads(r.stdout.strip().splitlines()[-1])
    assert count > 200 and not report, "\n".join(report)


def test_the_coverage_transcript_counts_the_registry():
    import chainrule.ops
    shown = re.search(r"wrote docs/op_coverage\.md \((\d+) primitives\)", README.read_text(encoding="utf-8"))
    assert shown and int(shown.group(1)) == len(chainrule.ops.REGISTRY)
