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
import typer.main

from ..core.errors import NeuralbrushError

COMMAND_MODULES = (
    "dataset",
    "demo",
    "effects",
    "latent",
    "steer",
    "pix2pix",
    "style",
    "studio",
    "train",
    "weights",
)

_state = {"debug": False}


def _main(debug: bool = typer.Option(False, "--debug", help="Show full tracebacks for errors."),
          quiet: bool = typer.Option(False, "--quiet", "-q", help="Hide progress bars and status lines.")) -> None:
    """neuralbrush: turn a folder of your images into a generative model, then into art."""
    import os

    _state["debug"] = debug
    if quiet:
        os.environ["NEURALBRUSH_QUIET"] = "1"


def new_app() -> typer.Typer:
    """The top-level app with its options and no commands yet."""
    app = typer.Typer(
        name="neuralbrush",
        help="An AI art studio: datasets, GAN training, latent art, style transfer and effects.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    app.callback()(_main)
    return app


def build_app(modules: tuple[str, ...] = COMMAND_MODULES) -> typer.Typer:
    """The app with the commands of ``modules`` (default: every command)."""
    app = new_app()
    for name in modules:
        importlib.import_module(f"{__package__}.{name}").register(app)
    return app


def __getattr__(name: str):
    """``main.app``: the app with every command (built on first use; ``run`` imports only what it needs)."""
    if name == "app":
        globals()["app"] = build_app()
        return globals()["app"]
    raise AttributeError(name)


def _command_for(args: list[str]):
    """The click command for ``args``: the named command's module only, or (no command, top-level
    ``--help``, an unknown name) every command listed from the index without importing any."""
    from . import index

    entries = index.load()
    first = next((a for a in args if not a.startswith("-")), None)
    modules = tuple(dict.fromkeys(e["module"] for e in entries if e["name"] == first))
    command = typer.main.get_command(build_app(modules))
    if not modules:
        from typer.core import TyperCommand

        for e in entries:
            command.add_command(TyperCommand(e["name"], help=e["help"], hidden=e["hidden"]))
    return command


def _finite_floats(cmd) -> None:
    """Refuse NaN and infinity in every float option where it enters, with the option's name."""
    import math
    import typing

    for sub in getattr(cmd, "commands", {}).values():
        _finite_floats(sub)
    for param in cmd.params:
        desc = getattr(param, "type_descriptor", None)
        if desc is None or float not in (desc.annotation, *typing.get_args(desc.annotation)):
            continue

        def check(ctx, par, value, _inner=param.callback):
            if isinstance(value, float) and not math.isfinite(value):
                raise typer.BadParameter(f"{value} is not a finite number", ctx=ctx, param=par)
            return _inner(ctx, par, value) if _inner is not None else value

        param.callback = check


def describe_os_error(e: OSError) -> str:
    """One sentence for a failed read or write: the path(s) and the system's reason."""
    reason = e.strerror or e.__class__.__name__
    if e.filename is None:
        return f"file system error: {e}"
    where = f"{e.filename}" + (f" -> {e.filename2}" if e.filename2 is not None else "")
    if e.errno is not None and e.errno == __import__("errno").ENOSPC:
        return f"disk full while writing {where} ({reason}); nothing was replaced, free space and run again"
    return f"cannot use {where}: {reason}"


def _usage_message(e: Exception) -> str:
    message = e.format_message() if hasattr(e, "format_message") else str(e)
    message = " ".join(str(message).split())  # one line, whatever the parser wrapped
    ctx = getattr(e, "ctx", None)
    if ctx is not None and getattr(ctx, "command_path", None):
        message += f" (see '{ctx.command_path} --help')"
    return message


def run(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status (used by the console script and tests).

    Every failure a user can cause ends here as one ``error:`` line and exit status 2: our own
    :class:`NeuralbrushError`, a parser error (unknown option, bad value, bad choice) and a file
    the system refused to read or write (read-only folder, path under a regular file, disk full).
    """
    from typer._click import exceptions as click_errors  # typer's own copy of click

    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    command = _command_for(args)
    _finite_floats(command)
    from ..core.outputs import forget_claims, remove_empty_claims

    forget_claims()
    try:
        try:
            rv = command.main(args=args, prog_name="neuralbrush", standalone_mode=False)
        except BaseException:
            remove_empty_claims()  # a failed command leaves no empty output folder behind
            raise
    except SystemExit as e:
        if e.code is None:
            return 0
        return e.code if isinstance(e.code, int) else 1
    except click_errors.NoArgsIsHelpError as e:
        print(e.format_message(), file=sys.stderr)
        return 2
    except click_errors.ClickException as e:
        if debug:
            raise
        print(f"error: {_usage_message(e)}", file=sys.stderr)
        return 2
    except NeuralbrushError as e:
        if debug:
            raise
        print(f"error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    except OSError as e:
        if debug:
            raise
        print(f"error: {describe_os_error(e)}", file=sys.stderr)
        return 2
    except MemoryError:
        if debug:
            raise
        print("error: not enough memory for this job; use a smaller size or count", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, typer.Abort):
        print("interrupted", file=sys.stderr)
        return 130
    return rv if isinstance(rv, int) else 0


def main() -> None:  # console script
    sys.exit(run())


if __name__ == "__main__":
    main()
