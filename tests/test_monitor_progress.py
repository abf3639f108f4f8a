"""Progress bars: tqdm.auto in notebooks, a terminal bar on a TTY, none elsewhere; no stray files."""
import sys
import types

import chainrule.train as T


class ZMQInteractiveShell:   # the class name Jupyter's kernel shell has
    pass


def test_progress_kind_follows_where_we_run(monkeypatch):
    monkeypatch.delitem(sys.modules, "IPython", raising=False)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    assert T.progress_kind() is None and T.make_progress_bar(10) is None
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    assert T.progress_kind() == "terminal"
    fake = types.ModuleType("IPython")
    fake.get_ipython = lambda: ZMQInteractiveShell()
    monkeypatch.setitem(sys.modules, "IPython", fake)
    assert T.progress_kind() == "notebook"
    fake.get_ipython = lambda: None        # IPython imported, but a plain script
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    assert T.progress_kind() is None


def test_terminal_bar_is_tqdm(monkeypatch):
    tqdm = __import__("pytest").importorskip("tqdm")
    monkeypatch.setattr(T, "progress_kind", lambda: "terminal")
    bar = T.make_progress_bar(5)
    try:
        assert isinstance(bar, tqdm.tqdm) and bar.total == 5
    finally:
        bar.close()


def test_train_digits_writes_files_only_where_told(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = T.train_digits(epochs=0, log=None, progress=False)
    assert r.checkpoint is None and r.plots == [] and list(tmp_path.iterdir()) == []
    r = T.train(T.TrainConfig.for_dataset("moons", epochs=1), log=None, progress=False)
    assert r.checkpoint is None and list(tmp_path.iterdir()) == []
    r = T.train(T.TrainConfig.for_dataset("moons", epochs=1, out=str(tmp_path / "here")),
                log=None, progress=False, plots=False)
    assert [p.name for p in (tmp_path / "here").iterdir()] == ["checkpoint.safetensors"]
