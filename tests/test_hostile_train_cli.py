"""`train` / `eval` as users hit them (issue 14, items 3 and 11): the flags decide, errors are one line."""
import os
import subprocess
import sys

import pytest

import chainrule as cr
from chainrule import train as T
from chainrule.cli import main

FAST = ["--hidden", "4", "--batch-size", "64", "--no-progress", "--no-plots"]


def _run(tmp_path, epochs, name="q"):
    out = tmp_path / name
    assert main(["train", "blobs", "--epochs", str(epochs), "--out", str(out)] + FAST) == 0
    return out / "checkpoint.safetensors"


# -------------------------------------------------------------------- item 3: the file decides nothing

def _with_config(path, dest, **config):
    state = cr.load(path)
    state["config"].update(config)
    cr.save(state, dest)
    return dest


@pytest.mark.parametrize("command", ["eval", "resume"])
def test_a_config_that_does_not_match_the_tensors_is_refused_before_building(
        tmp_path, capsys, monkeypatch, command):
    ck = _with_config(_run(tmp_path, 1), tmp_path / "liar.safetensors", hidden=[20000, 20000])
    capsys.readouterr()
    built = []
    monkeypatch.setattr(T, "make_mlp", lambda *a, **k: built.append(a) or 1 / 0)
    argv = (["eval", str(ck)] if command == "eval"
            else ["train", "--resume", str(ck), "--epochs", "3", "--no-progress"])
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err
    assert "hidden=[20000, 20000]" in err and "does not match its tensors" in err
    assert built == []   # no 20000×20000 layer was ever allocated


def test_eval_of_a_lying_config_stays_small_under_a_memory_cap(tmp_path):
    if not os.path.exists("/proc/self/status"):
        pytest.skip("needs Linux /proc")
    ck = _with_config(_run(tmp_path, 1), tmp_path / "liar.safetensors", hidden=[20000, 20000])
    code = ("import resource, sys\n"
            "from chainrule.cli import main\n"
            "import chainrule.data\n"
            "base = int(open('/proc/self/status').read().split('VmSize:')[1].split()[0]) * 1024\n"
            "cap = base + 300 * 2**20\n"
            "resource.setrlimit(resource.RLIMIT_AS, (cap, cap))\n"
            f"sys.exit(main(['eval', {str(ck)!r}]))\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, env=dict(os.environ, OPENBLAS_NUM_THREADS="1"))
    assert res.returncode == 1, res.stderr
    assert res.stderr.startswith("error: ") and res.stderr.count("\n") == 1, res.stderr


def test_resume_writes_where_out_says_never_where_the_file_says(tmp_path, capsys):
    ck = _with_config(_run(tmp_path, 1), tmp_path / "ck.safetensors",
                      out=str(tmp_path / "named-in-file"))
    assert main(["train", "--resume", str(ck), "--epochs", "2", "--out", str(tmp_path / "mine")]
                + FAST[-2:]) == 0
    assert (tmp_path / "mine" / "checkpoint.safetensors").exists()
    assert not (tmp_path / "named-in-file").exists()
    assert cr.load(tmp_path / "mine" / "checkpoint.safetensors")["epoch"] == 2
    # without --out the run continues next to the checkpoint it was resumed from
    assert main(["train", "--resume", str(ck), "--epochs", "2"] + FAST[-2:]) == 0
    assert cr.load(tmp_path / "checkpoint.safetensors")["epoch"] == 2
    assert not (tmp_path / "named-in-file").exists()


# -------------------------------------------------------------------- item 11: the CLI as users hit it

def test_resume_with_fewer_epochs_than_the_checkpoint_holds_is_refused(tmp_path, capsys):
    ck = _run(tmp_path, 3)
    before = ck.read_bytes()
    capsys.readouterr()
    assert main(["train", "--resume", str(ck), "--epochs", "2"] + FAST[-2:]) == 1
    err = capsys.readouterr().err.strip()
    assert "already holds 3 epochs" in err and "--epochs 2" in err and "\n" not in err
    assert ck.read_bytes() == before   # not rewritten with a wrong epoch count
    assert main(["train", "--resume", str(ck), "--epochs", "3"] + FAST[-2:]) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert ck.read_bytes() == before
    assert main(["train", "--resume", str(ck), "--epochs", "4"] + FAST[-2:]) == 0
    assert cr.load(ck)["epoch"] == 4 and len(cr.load(ck)["history"]["loss"]) == 4


def test_flags_a_resume_cannot_honour_warn(tmp_path, capsys):
    ck = _run(tmp_path, 1)
    capsys.readouterr()
    assert main(["train", "--resume", str(ck), "--epochs", "2", "--lr", "5", "--hidden", "9"]
                + FAST[-2:]) == 0
    captured = capsys.readouterr()
    assert captured.err.startswith("warning: ") and "--lr" in captured.err
    assert "--hidden" in captured.err and captured.err.count("\n") == 1
    state = cr.load(ck)
    assert state["config"]["lr"] != 5 and state["config"]["hidden"] == [4]
    with pytest.raises(ValueError, match="cannot change lr"):
        T.train(resume=str(ck), epochs=3, lr=5.0, log=None)


@pytest.mark.parametrize("what", ["missing", "directory"])
def test_a_bad_resume_path_is_one_error_line(tmp_path, capsys, what):
    path = tmp_path / "nope.safetensors"
    if what == "directory":
        path.mkdir()
    assert main(["train", "--resume", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and str(path) in err


def test_epochs_0_writes_no_empty_plot(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out = tmp_path / "z"
    assert main(["train", "blobs", "--epochs", "0", "--out", str(out), "--no-progress"]) == 0
    assert sorted(os.listdir(out)) == ["checkpoint.safetensors"]
    assert "no epochs run" in capsys.readouterr().out


@pytest.mark.skipif(os.name != "posix", reason="pipes and SIGPIPE semantics")
def test_piping_train_into_head_ends_quietly(tmp_path):
    # -u: each line is written at once, so the lines after the reader has gone all hit the pipe
    cmd = [sys.executable, "-u", "-m", "chainrule", "train", "blobs", "--epochs", "300", "--out",
           str(tmp_path / "h"), "--no-plots", "--no-progress", "--hidden", "4"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = proc.stdout.readline()
    proc.stdout.close()   # what `head -1` does after its line
    err = proc.stderr.read().decode()
    proc.wait(timeout=120)
    assert first.startswith(b"blobs:")
    assert err == "", err
    assert proc.returncode in (0, 141)
