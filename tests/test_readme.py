"""README.md read the way a newcomer reads it, so what it shows stays true.

* Every section's Python blocks run in order in one fresh interpreter per section (a subprocess
  started in a temporary folder). Where a statement is followed by what it prints (a comment after
  `print(...)`, the comment lines right below it, `>>>` output, or an output block right after the
  code) the printed text must match it; `...` stands for anything, whitespace runs count as one.
  A comment that reads as prose ("# nested repr, as in PyTorch") is not compared.
* Every command it shows exists: `make` targets, `python -m chainrule SUB ...` parses with the CLI's
  own parser (flags, choices, arguments) and `SUB --help` runs, `python -m benchmarks...` flags are
  in that module's `--help`, scripts and test files exist, `chainrule[extra]` is a declared extra.
* `python -m chainrule explain` transcripts print exactly what is shown; `graph` commands run.
* Relative links and images resolve, including `#anchors` into other markdown files.

Slow commands (training runs, benchmarks, mpirun) are checked for their flags, not run.
`python tests/test_readme.py DIR` is the driver the tests start (see run_all).
"""
from __future__ import annotations

import ast
import contextlib
import importlib.util
import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
FENCE = re.compile(r"^(\s*)```(\w*)\s*$")


# ---------------------------------------------------------------- reading the markdown
def sections(path=README):
    """[(title, line, [block])] in order; a block is {lang, body, line}; headings inside fences
    do not count, fences indented inside a list item are de-indented."""
    out, lines = [("(top)", 1, [])], path.read_text(encoding="utf-8").split("\n")
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if m:
            indent, start, body = m.group(1), i + 1, []
            i += 1
            while not re.match(r"^\s*```\s*$", lines[i]):
                body.append(lines[i][len(indent):] if lines[i].startswith(indent) else lines[i])
                i += 1
            out[-1][2].append({"lang": m.group(2), "body": "\n".join(body), "line": start})
        elif re.match(r"^#{1,6} ", lines[i]):
            out.append((lines[i].lstrip("#").strip(), i + 1, []))
        i += 1
    return out


def prose(path=README):
    """The text outside code fences."""
    return re.sub(r"^\s*```\w*\s*$.*?^\s*```\s*$", "", path.read_text(encoding="utf-8"),
                  flags=re.M | re.S)


def python_sections():
    """Sections with Python to run: (title, line, blocks) where blocks are the python ones, each
    followed by the output block shown right after it (lang '' or 'text', not a `$` transcript)."""
    found = []
    for title, line, blocks in sections():
        runs = []
        for k, b in enumerate(blocks):
            if b["lang"] != "python" and not b["body"].lstrip().startswith(">>>"):
                continue
            nxt = blocks[k + 1] if k + 1 < len(blocks) else None
            shown = (nxt["body"] if nxt and nxt["lang"] in ("", "text")
                     and not nxt["body"].lstrip().startswith(("$", ">>>")) else None)
            runs.append(dict(b, shown=shown))
        if runs:
            found.append((title, line, runs))
    return found


# ---------------------------------------------------------------- comparing shown with printed
def _norm(s):
    return " ".join(s.split())


def _pattern(shown):
    return ".*?".join(re.escape(p) for p in _norm(shown).split("..."))


def shown_matches(shown, printed):
    """True if `printed` is what `shown` shows: equal up to whitespace, `...` matching anything;
    a note may follow the shown value after two spaces or ': ' ("True: backprop agrees ...")."""
    got = _norm(printed)
    if re.fullmatch(_pattern(shown), got, re.S):
        return True
    return any(re.fullmatch(_pattern(shown[:m.start()]), got, re.S)
               for m in re.finditer(r"\s{2,}|:\s", shown) if m.start() > 0)


def is_prose(comment):
    """A comment that describes rather than shows output ('nested repr, as in PyTorch',
    '4 backward passes, one per row')."""
    c = comment.strip()
    if re.match(r"(True|False|None|tensor)\b|\w+Error:", c):
        return False
    return bool(re.match(r"[A-Za-z][A-Za-z]+[ ,;(]|\d+ [a-z]", c))


def lines_shown(shown, printed):
    """An output block: its lines appear consecutively in the printed lines; a line `...`
    stands for any number of lines."""
    want = [ln.strip() for ln in shown.strip("\n").split("\n")]
    have = [ln.strip() for ln in printed.split("\n")]

    def match(w, h):
        if not w:
            return True
        if w[0] == "...":
            return any(match(w[1:], h[j:]) for j in range(len(h) + 1))
        return bool(h) and h[0] == w[0] and match(w[1:], h[1:])

    return any(match(want, have[i:]) for i in range(len(have)))


# ---------------------------------------------------------------- the per-section driver
def _comments(src):
    """{line: comment text} for every comment; full-line ones are marked by a leading '\\n'."""
    out = {}
    for tok in tokenize.generate_tokens(io.StringIO(src).readline):
        if tok.type == tokenize.COMMENT:
            full = not tok.line[:tok.start[1]].strip()
            out[tok.start[0]] = ("\n" if full else "") + tok.string[1:].strip()
    return out


def _shown_after(stmt, comments):
    """What the README shows a statement prints: its trailing comment plus the comment lines
    right below it, or None."""
    parts, ln = [], stmt.end_lineno
    if ln in comments and not comments[ln].startswith("\n"):
        parts.append(comments[ln])
    ln += 1
    while ln in comments and comments[ln].startswith("\n"):
        parts.append(comments[ln][1:])
        ln += 1
    return "\n".join(parts) or None


def _segment(src, stmt):
    """A statement's source, decorators included, from the start of its first line."""
    first = min([stmt.lineno] + [d.lineno for d in getattr(stmt, "decorator_list", ())])
    return "\n".join(src.split("\n")[first - 1:stmt.end_lineno])


def _run(code, ns, mode):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            exec(compile(code, "<README>", mode), ns)
            err = None
        except Exception as e:  # noqa: BLE001 -- the README may show an error on purpose
            err = f"{type(e).__name__}: {e}"
    return out.getvalue(), err


def _doctest(body):
    """[(source, shown output)] of a `>>>` block."""
    examples, src, shown = [], None, []
    for line in body.split("\n"):
        if line.startswith(">>> "):
            if src is not None:
                examples.append((src, "\n".join(shown)))
            src, shown = line[4:], []
        elif line.startswith("... ") and not shown:
            src += "\n" + line[4:]
        elif src is not None:
            shown.append(line)
    if src is not None:
        examples.append((src, "\n".join(shown)))
    return examples


def run_section(blocks):
    """Run one section's blocks in one namespace; return a list of records
    {line, code, printed, error, shown} (stops at the first unexpected error)."""
    ns, records = {"__name__": "__main__"}, []
    for b in blocks:
        all_printed = []
        if b["body"].lstrip().startswith(">>>"):
            steps = [(src, shown or None, "single", b["line"]) for src, shown in _doctest(b["body"])]
        else:
            tree, comments = ast.parse(b["body"]), _comments(b["body"])
            steps = [(_segment(b["body"], s), _shown_after(s, comments)
                      if isinstance(s, ast.Expr) else None, "exec", b["line"] + s.lineno)
                     for s in tree.body]
        for code, shown, mode, line in steps:
            if mode == "single":
                sys.ps1 = ">>> "      # a prompt: explain() leaves the display to the prompt
            printed, err = _run(code, ns, mode)
            if mode == "single":
                del sys.ps1
            all_printed.append(printed)
            records.append(dict(line=line, code=code, printed=printed, error=err, shown=shown))
            if err and not (shown and shown.startswith(err.split(":")[0] + ":")):
                return records
        if b.get("shown"):
            records.append(dict(line=b["line"], code="(the block's output)", error=None,
                                printed="".join(all_printed), shown=b["shown"], block=True))
    return records


def run_all(workdir):
    """Run DIR/k/blocks.json into DIR/k/result.json for every section k, each in a child forked
    from this interpreter right after `import chainrule` (so each starts from the state a fresh
    interpreter has, and the import is paid once); a new interpreter per section without fork."""
    import numpy  # noqa: F401
    import chainrule  # noqa: F401
    for sub in sorted(Path(workdir).iterdir(), key=lambda p: int(p.name)):
        if not hasattr(os, "fork"):
            subprocess.run([sys.executable, __file__, str(sub)], check=False)
            continue
        pid = os.fork()
        if pid == 0:
            try:
                os.chdir(sub)
                blocks = json.loads((sub / "blocks.json").read_text())
                (sub / "result.json").write_text(json.dumps(run_section(blocks)))
            finally:
                os._exit(0)
        os.waitpid(pid, 0)


if __name__ == "__main__":
    # python tests/test_readme.py DIR: the sections in DIR/0, DIR/1, ... (see run_all)
    if (Path(sys.argv[1]) / "blocks.json").exists():
        os.chdir(sys.argv[1])
        Path("result.json").write_text(json.dumps(run_section(json.loads(Path("blocks.json").read_text()))))
    else:
        run_all(sys.argv[1])


# ---------------------------------------------------------------- the tests
import pytest  # noqa: E402  (the driver above runs without pytest)


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
    r = subprocess.run([sys.executable, __file__, str(tmp_path)], capture_output=True, text=True,
                       timeout=600, env={**os.environ, "MPLBACKEND": "Agg"})
    assert r.returncode == 0, r.stderr[-3000:]
    problems = []
    for title, sub in runnable:
        if not (sub / "result.json").exists():
            problems.append(f"{title}: the section's process died\n{r.stderr[-2000:]}")
        else:
            problems += _problems(title, json.loads((sub / "result.json").read_text()))
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("title,line,reason", SKIPPED or [("none", 0, "")],
                         ids=[f"L{line}" for _, line, _ in SKIPPED] or ["none"])
def test_sections_needing_what_is_missing(title, line, reason):
    """The sections the test above leaves out, each skipped with what it needs."""
    if reason:
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


# ---------------------------------------------------------------- commands
PREFIXES = ("python ", "python3 ", ".venv/bin/python ", "make ", "mpirun ", "pytest ")


def commands():
    """[(line, command)] for every command the README shows: `$ ` lines of transcripts, lines of
    bash blocks and of plain blocks that start like a command, and inline code that does."""
    found = []
    for _, _, blocks in sections():
        for b in blocks:
            if b["lang"] not in ("bash", "sh", "shell", "", "text") or b["body"].lstrip().startswith(">>>"):
                continue
            for k, ln in enumerate(b["body"].split("\n")):
                ln = ln.strip()
                if ln.startswith("$ "):
                    found.append((b["line"] + k + 1, ln[2:]))
                elif ln and not ln.startswith("#") and (b["lang"] == "bash" or ln.startswith(PREFIXES)):
                    found.append((b["line"] + k + 1, ln))
    text = README.read_text(encoding="utf-8")
    for m in re.finditer(r"(?<!`)`([^`\n]+)`(?!`)", prose()):
        if m.group(1).startswith(PREFIXES):
            found.append((text[:text.find(m.group(0))].count("\n") + 1, m.group(1)))
    return found


def _argv(cmd):
    """The command as argv, from `python` on (env settings and mpirun's options dropped)."""
    argv = shlex.split(cmd, comments=True)
    while argv and re.fullmatch(r"[A-Z_]+=\S*", argv[0]):
        argv = argv[1:]
    if argv and argv[0] == "mpirun":
        argv = argv[argv.index("python"):]
    if argv and argv[0] == "pytest":
        argv = ["python", "-m"] + argv
    if argv and argv[0] in ("python3", ".venv/bin/python"):
        argv[0] = "python"
    return argv


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
def _slug(heading):
    """GitHub's anchor for a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


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


# ---------------------------------------------------------------- docstring examples
DOCTESTS = r'''
import contextlib, doctest, importlib, io, json, pkgutil, sys
import numpy as np
import chainrule as cr, chainrule.nn as nn, chainrule.nn.functional as F
sys.ps1 = ">>> "        # at a prompt: what explain() and friends do when the prompt shows the value
skip_modules, skip_names = sys.argv[1].split(","), set(sys.argv[2].split(","))
names, seen, report = [m.name for m in pkgutil.walk_packages(cr.__path__, "chainrule.")], set(), []
count = 0
for name in names:
    if any(name.startswith(s) for s in skip_modules):
        continue
    for test in doctest.DocTestFinder(exclude_empty=True).find(importlib.import_module(name)):
        if test.name in seen or test.name in skip_names or not test.examples:
            continue
        seen.add(test.name)
        g = dict(test.globs, cr=cr, np=np, nn=nn, F=F)
        cr.manual_seed(0)
        for ex in test.examples:
            if ex.options.get(doctest.SKIP):
                continue
            count += 1
            out = io.StringIO()
            try:
                with contextlib.redirect_stdout(out):
                    exec(compile(ex.source, test.name, "single"), g)
            except NameError:
                break           # a fragment that uses names from its text (model, loss, ...)
            except Exception as e:
                if "raise" not in ex.source:          # "# raises: ..." shows an error on purpose
                    report.append(f"{test.name}: {ex.source.strip()[:80]!r} raised {type(e).__name__}: {e}")
                break
            # the shown value may be the last of several a line displays ('cr.manual_seed(0); ...')
            if ex.want and not doctest.OutputChecker().check_output(
                    "..." + ex.want, out.getvalue(), doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE):
                report.append(f"{test.name}: {ex.source.strip()[:80]!r} printed {out.getvalue()!r}, "
                              f"shows {ex.want!r}")
print(json.dumps([count, report]))
'''
SLOW_OR_OUTSIDE = (
    "chainrule.distributed,chainrule.nn.parallel,chainrule.__main__",     # need mpirun
    ",".join(["chainrule.train", "chainrule.train.train", "chainrule.train.train_digits",  # train
              "chainrule.data.digits.digits",                             # loads scikit-learn
              "chainrule.functions.expose.expose"]))                      # re-declares cr.var


def test_docstring_examples_run(tmp_path):
    """The `>>>` examples of chainrule's docstrings run (fragments that use names their text
    introduces stop at the first such name); training runs and MPI are left out."""
    r = subprocess.run([sys.executable, "-c", DOCTESTS, *SLOW_OR_OUTSIDE], cwd=tmp_path,
                       capture_output=True, text=True, timeout=300,
                       env={**os.environ, "MPLBACKEND": "Agg"})
    assert r.returncode == 0, r.stderr[-3000:]
    count, report = json.loads(r.stdout.strip().splitlines()[-1])
    assert count > 200 and not report, "\n".join(report)
