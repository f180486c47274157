"""Options declared once (core.options): every command's options are generated from its options
dataclass, so each has help, each choice is refused by the parser (before torch is imported),
every command that does work accepts --dry-run (prints the resolved options as JSON, writes
nothing) and --config (the dry-run's output re-runs to the same options)."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest
import typer
from typer._click.exceptions import BadParameter  # typer's own copy of click

sys.path.insert(0, str(Path(__file__).parent / "adversarial"))
from adversarial_harness import run_cli, tree  # noqa: E402
from neuralbrush.cli.main import app  # noqa: E402
from neuralbrush.core.errors import UsageError  # noqa: E402
from neuralbrush.core.options import check, choices_of, cli_from, from_dict, option  # noqa: E402

HERE = Path(__file__).parent

# The commands that do work, with the arguments they need (none of the files has to exist:
# --dry-run stops after the options are checked, before any input is read).
WORKING = {
    "dataset build": ["photos", "-o", "data.zip"],
    "dataset pairs": ["photos", "-o", "pairs"],
    "dataset flickr": ["-o", "flickr", "--api-key", "k", "--query", "cats"],
    "train": ["data.zip"],
    "pix2pix train": ["pairs"],
    "pix2pix apply": ["model", "photo.png", "-o", "out.png"],
    "pix2pix video": ["model", "clip.mp4", "-o", "out.mp4"],
    "generate": ["model"],
    "mix": ["model"],
    "project": ["model", "target.png"],
    "neighbours": ["model", "--w", "w.npz"],
    "video walk": ["model"],
    "video storyboard": ["film.yaml"],
    "style": ["photo.png", "--style", "style.png"],
    "style-video": ["clip.mp4", "--style", "style.png"],
    "quantize": ["photo.png"],
    "superpixels": ["photo.png"],
    "enhance": ["photo.png", "--clahe"],
    "directions": ["model"],
    "breed": ["model", "--parents", "a.npz,b.npz"],
}


def _walk(cmd, path=()):
    yield path, cmd
    for name, sub in getattr(cmd, "commands", {}).items():
        yield from _walk(sub, path + (name,))


def _commands() -> dict:
    root = typer.main.get_command(app)
    return {" ".join(p): c for p, c in _walk(root) if p and not getattr(c, "commands", None)}


def _options(cmd) -> list:
    return [p for p in cmd.params if p.param_type_name == "option"]


def _option(cmd, name: str):
    return next((p for p in _options(cmd) if name in p.opts), None)


def _choices(param) -> tuple | None:
    desc = getattr(param, "type_descriptor", None)
    return choices_of(desc.annotation) if desc is not None else None


def test_every_working_command_has_dry_run_and_config_and_the_others_do_not():
    commands = _commands()
    with_dry_run = {name for name, c in commands.items() if _option(c, "--dry-run")}
    assert with_dry_run == set(WORKING)
    assert all(_option(commands[name], "--config") for name in WORKING)
    assert not any(name.startswith(("weights", "demo")) for name in with_dry_run)


def test_every_generated_option_has_help_and_shows_its_default():
    for name in WORKING:
        for p in _options(_commands()[name]):
            if p.name != "help":
                assert p.help, f"{name} {p.opts[0]} has no help"


def _choice_cases() -> list[tuple[str, list[str], str]]:
    cases = []
    for name, cmd in sorted(_commands().items()):
        for p in _options(cmd):
            if _choices(p):
                flag = max(p.opts, key=len)
                cases.append((name, [*name.split(), flag, "no-such-choice", *WORKING.get(name, [])], flag))
    return cases


def test_every_choice_is_refused_by_the_parser_before_torch_is_imported(tmp_path):
    """One fresh interpreter runs every bad choice: exit 2, one error line naming the option,
    nothing written, and torch never imported."""
    cases = _choice_cases()
    assert len(cases) >= 30  # --norm, --kind, --aug, --crop, --space, --dither, --precision ...
    script = f"""
import json, sys
sys.path.insert(0, {str(HERE / 'adversarial')!r})
from adversarial_harness import run_cli
from pathlib import Path
out = []
for argv in json.loads(sys.argv[1]):
    o = run_cli(argv, watch=Path.cwd())
    out.append([o.code, [l for l in o.err.splitlines() if l.startswith("error:")], o.new_files, o.escaped])
print(json.dumps({{"results": out, "torch": "torch" in sys.modules}}))
"""
    argvs = [argv for _, argv, _ in cases]
    proc = subprocess.run([sys.executable, "-c", script, json.dumps(argvs)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout.splitlines()[-1])
    for (name, argv, flag), (code, errors, new, escaped) in zip(cases, report["results"]):
        assert not escaped and code == 2, (argv, code, errors, escaped)
        assert len(errors) == 1 and flag in errors[0], (argv, errors)
        assert not new, (argv, new)
    assert report["torch"] is False, "a bad choice imported torch before it was refused"


@pytest.mark.parametrize("name", sorted(WORKING))
def test_dry_run_prints_the_options_writes_nothing_and_config_round_trips(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    watch = tmp_path / "work"
    watch.mkdir()
    monkeypatch.chdir(watch)
    argv = [*name.split(), *WORKING[name]]
    first = run_cli([*argv, "--dry-run"], watch=watch)
    assert first.code == 0 and not first.escaped, first.describe()
    assert not first.new_files, first.describe()
    doc = json.loads(first.out)
    assert doc["command"] == name and isinstance(doc["options"], dict) and doc["options"]
    saved = tmp_path / "options.json"
    saved.write_text(first.out)
    again = run_cli([*argv, "--config", str(saved), "--dry-run"], watch=watch)
    assert again.code == 0 and not again.new_files, again.describe()
    assert json.loads(again.out) == doc
    assert tree(watch) == set()


def test_command_line_wins_over_config_and_explicit_names_what_was_typed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.json").write_text(json.dumps({"options": {"colors": 3, "space": "lab", "seed": 9}}))
    o = run_cli(["quantize", "p.png", "--config", "c.json", "-k", "5", "--dry-run"])
    assert o.code == 0, o.describe()
    assert json.loads(o.out)["options"] | {} == {"colors": 5, "space": "lab", "dither": "none", "palette": None,
                                                  "seed": 9, "sample": 100000}
    # Old key names are read (train's map is map_depth now); unknown keys are refused by name.
    (tmp_path / "t.json").write_text(json.dumps({"data": "d.zip", "map": 3, "resolved": {}}))
    o = run_cli(["train", "--config", "t.json", "--dry-run"])
    assert json.loads(o.out)["options"]["map_depth"] == 3
    (tmp_path / "u.json").write_text(json.dumps({"colours": 3}))
    o = run_cli(["quantize", "p.png", "--config", "u.json"])
    assert o.code == 2 and "colours" in o.err


# ---------------------------------------------------------------------- the machinery by itself

@dataclass
class _Demo:
    mode: Literal["fast", "slow"] = option("fast", "How to run.")
    count: int = option(3, "How many.", min=1, max=10)
    ratio: float | None = option(None, "A ratio.", min=0.0)
    names: tuple[str, ...] = option(("a", "b"), "Names, comma-separated.")
    hidden: int = option(7, "Not on the command line.", cli=False)

    def validate(self) -> None:
        if self.count == 4:
            raise UsageError("--count 4 is unlucky")


def test_check_names_the_option_and_runs_validate_last():
    for bad, needle in (({"mode": "medium"}, "--mode"), ({"count": 11}, "--count"), ({"count": 2.5}, "--count"),
                        ({"ratio": -1.0}, "--ratio"), ({"names": "a,b"}, "--names"), ({"hidden": "x"}, "hidden"),
                        ({"count": 4}, "unlucky")):
        with pytest.raises(UsageError, match=needle):
            check(_Demo(**bad))
    assert from_dict(_Demo, {"names": ["x", "y"]}).names == ("x", "y")


def test_cli_from_builds_typer_options_and_hands_over_opts_and_explicit(capsys):
    seen = {}
    demo = typer.Typer()

    @demo.command()
    @cli_from(_Demo)
    def cmd(word: str = typer.Argument(...), *, opts: _Demo, explicit: set[str]) -> None:
        seen.update(word=word, opts=opts, explicit=explicit)

    command = typer.main.get_command(demo)
    command.main(["hi", "--names", "x,y", "--mode", "SLOW"], standalone_mode=False)
    assert seen == {"word": "hi", "opts": _Demo(mode="slow", names=("x", "y")), "explicit": {"names", "mode"}}
    assert _option(command, "--hidden") is None and _option(command, "--count").max == 10
    with pytest.raises(BadParameter):
        command.main(["hi", "--mode", "medium"], standalone_mode=False)
