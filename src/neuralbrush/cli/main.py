"""Entry point of the ``neuralbrush`` command.

Each command group lives in its own module ``neuralbrush.cli.<name>`` exposing
``register(app: typer.Typer) -> None``. Modules import heavy libraries inside their commands,
so ``neuralbrush --help`` stays quick. User errors (:class:`NeuralbrushError`) print one line
and exit with status 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import importlib
import sys

import typer

from ..core.errors import NeuralbrushError

COMMAND_MODULES = (
    "dataset",
    "demo",
    "effects",
    "latent",
    "pix2pix",
    "style",
    "train",
    "weights",
)

app = typer.Typer(
    name="neuralbrush",
    help="An AI art studio: datasets, GAN training, latent art, style transfer and effects.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

_state = {"debug": False}


@app.callback()
def _main(debug: bool = typer.Option(False, "--debug", help="Show full tracebacks for errors."),
          quiet: bool = typer.Option(False, "--quiet", "-q", help="Hide progress bars and status lines.")) -> None:
    """neuralbrush: turn a folder of your images into a generative model, then into art."""
    import os

    _state["debug"] = debug
    if quiet:
        os.environ["NEURALBRUSH_QUIET"] = "1"


for _name in COMMAND_MODULES:
    importlib.import_module(f"{__package__}.{_name}").register(app)


def run(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status (used by the console script and tests)."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    try:
        app(args=args, prog_name="neuralbrush", standalone_mode=True)
    except SystemExit as e:
        if e.code is None:
            return 0
        return e.code if isinstance(e.code, int) else 1
    except NeuralbrushError as e:
        if debug:
            raise
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


def main() -> None:  # console script
    sys.exit(run())


if __name__ == "__main__":
    main()
