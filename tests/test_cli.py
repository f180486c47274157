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


def test_command_index_is_current():
    """commands.json (what --help lists and which module each command needs) matches the modules;
    if this fails, run `python -m neuralbrush.cli.index`."""
    from neuralbrush.cli import index

    assert index.load() == index.compute()


def test_help_imports_no_command_module_and_quantize_no_numpy():
    """`neuralbrush --help` lists every command from the index; `quantize --help` imports the effects
    command module but neither numpy nor torch (issue 15: start-up)."""
    import subprocess
    import sys

    probe = ("import sys, contextlib, io\n"
             "from neuralbrush.cli.main import run\n"
             "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
             "    code = run(sys.argv[1:])\n"
             "mods = [m for m in ('numpy', 'torch', 'PIL', 'neuralbrush.cli.effects', 'neuralbrush.cli.train') "
             "if m in sys.modules]\n"
             "print(code, ','.join(mods), 'quantize' in out.getvalue())\n")
    top = subprocess.run([sys.executable, "-c", probe, "--help"], capture_output=True, text=True, check=True)
    assert top.stdout.split() == ["0", "True"]  # nothing heavy, and the listing names quantize
    sub = subprocess.run([sys.executable, "-c", probe, "quantize", "--help"], capture_output=True, text=True,
                         check=True)
    assert sub.stdout.split() == ["0", "neuralbrush.cli.effects", "True"]
