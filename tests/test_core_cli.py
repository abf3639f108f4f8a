"""`python -m chainrule --help` and each sub-command's help (the demo itself: tests/test_demo.py)."""
import pytest

from chainrule import cli

COMMANDS = ("demo", "train", "eval", "graph", "explain")


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: python -m chainrule")
    for name in COMMANDS:
        assert f"\n    {name} " in out, name


@pytest.mark.parametrize("name", COMMANDS)
def test_each_command_has_help(name, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main([name, "--help"])
    assert info.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: python -m chainrule {name}")


def test_no_command_prints_help_and_fails(capsys):
    assert cli.main([]) == 2
    assert "usage: python -m chainrule" in capsys.readouterr().out
