"""Reading README.md as a newcomer does, for tests/test_readme.py: its sections, code blocks,
commands and links; how a shown output is compared with a printed one; and the driver that runs
a section's Python blocks (`python tests/readme_tools.py DIR`, see run_all) or the docstrings'
examples (`python tests/readme_tools.py --docstrings SKIP_MODULES SKIP_NAMES`)."""
from __future__ import annotations

import ast
import contextlib
import io
import json
import os
import re
import shlex
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
    import numpy  # noqa: F401 -- imported once, before the forks
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


def _slug(heading):
    """GitHub's anchor for a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


# ---------------------------------------------------------------- docstring examples
def run_docstrings(skip_modules, skip_names):
    """Run the `>>>` examples of chainrule's docstrings; print [examples run, problems] as JSON."""
    import doctest
    import importlib
    import pkgutil

    import numpy as np

    import chainrule as cr
    import chainrule.nn as nn
    import chainrule.nn.functional as F
    sys.ps1 = ">>> "        # at a prompt: what explain() and friends do when the prompt shows the value
    skip_modules, skip_names = skip_modules.split(","), set(skip_names.split(","))
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


if __name__ == "__main__":
    if sys.argv[1] == "--docstrings":
        run_docstrings(sys.argv[2], sys.argv[3])
    elif (Path(sys.argv[1]) / "blocks.json").exists():
        os.chdir(sys.argv[1])
        Path("result.json").write_text(json.dumps(run_section(json.loads(Path("blocks.json").read_text()))))
    else:
        run_all(sys.argv[1])
