"""The command line as a whole: every command explains itself, user errors are one line."""

from __future__ import annotations

import typer

from neuralbrush.cli.main import COMMAND_MODULES, app, run


def _walk(cmd, path=()):
    yield path, cmd
    for name, sub in getattr(cmd, "commands", {}).items():
        yield from _walk(sub, path + (name,))


def test_every_option_has_help_text():
    root = typer.main.get_command(app)
    missing = []
    count = 0
    for path, cmd in _walk(root):
        if not path:
            continue
        count += 1
        assert cmd.help or getattr(cmd, "short_help", None), f"{' '.join(path)} has no help"
        for p in cmd.params:
            if p.param_type_name == "option" and p.name != "help" and not p.help:
                missing.append(f"{' '.join(path)} {p.opts[0]}")
    assert count >= len(COMMAND_MODULES)
    assert not missing, f"options without help: {missing}"


def test_help_and_unknown_command(capsys):
    assert run(["--help"]) == 0
    out = capsys.readouterr().out
    for name in ("demo", "weights"):
        assert name in out
    assert run(["no-such-command"]) == 2


def test_every_command_help_runs(capsys):
    root = typer.main.get_command(app)
    for path, _ in _walk(root):
        if path:
            assert run(list(path) + ["--help"]) == 0, path
    capsys.readouterr()
