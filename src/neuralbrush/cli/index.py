"""Which module registers each top-level command, and the one-line help ``neuralbrush --help`` shows.

``neuralbrush quantize ...`` then imports only :mod:`neuralbrush.cli.effects`, and ``neuralbrush
--help`` lists every command without importing any command module (issue 15: ``--help`` under
0.3 s). The index is derived from the modules themselves and stored in ``commands.json`` beside
this file; ``python -m neuralbrush.cli.index`` rewrites it, and tests/test_cli.py fails while it
differs from what the modules register.
"""

from __future__ import annotations

import json
from pathlib import Path

INDEX_FILE = Path(__file__).with_name("commands.json")


def load() -> list[dict]:
    """``[{"name", "module", "help"}, ...]`` in the order ``--help`` lists them."""
    return json.loads(INDEX_FILE.read_text(encoding="utf-8"))


def compute() -> list[dict]:
    """The index as the command modules define it (imports every module)."""
    import importlib

    import typer.main

    from .main import COMMAND_MODULES, new_app

    owner: dict[str, str] = {}
    for module in COMMAND_MODULES:
        single = new_app()
        importlib.import_module(f"{__package__}.{module}").register(single)
        for name in typer.main.get_command(single).commands:
            owner[name] = module
    full = new_app()
    for module in COMMAND_MODULES:
        importlib.import_module(f"{__package__}.{module}").register(full)
    group = typer.main.get_command(full)
    return [{"name": name, "module": owner[name], "help": cmd.short_help or cmd.help or "",
             "hidden": bool(cmd.hidden)}
            for name, cmd in ((n, group.commands[n]) for n in group.list_commands(None))]  # type: ignore[arg-type]


def write() -> Path:
    INDEX_FILE.write_text(json.dumps(compute(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return INDEX_FILE


if __name__ == "__main__":
    print(f"wrote {write()}")
