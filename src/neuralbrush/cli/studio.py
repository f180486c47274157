"""``neuralbrush studio [WORKSPACE]``: the local web studio (needs the ``studio`` extra: gradio)."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("studio")
    def studio_cmd(
        workspace: Path = typer.Argument(Path("."), help="Workspace folder (created with datasets/, runs/, art/)."),
        host: str = typer.Option("127.0.0.1", help="Address to listen on; anything but loopback needs --auth."),
        port: int = typer.Option(7860, min=0, max=65535, help="Port to listen on (0: any free port)."),
        auth: str = typer.Option(None, help="USER:PASS required to open the page (needed off loopback)."),
    ) -> None:
        """Open the studio: every stage of neuralbrush in one local web page, writing the CLI's files."""
        from ..core.errors import UsageError
        from ..studio.app import check_bind, parse_auth

        check_bind(host, parse_auth(auth))  # before anything heavy is imported
        try:
            import gradio  # noqa: F401
        except ImportError:
            raise UsageError("the studio needs gradio: pip install 'neuralbrush[studio]'") from None
        from ..studio.app import serve

        serve(workspace, host=host, port=port, auth=auth,
              on_ready=lambda url: print(f"neuralbrush studio: {url} (workspace {Path(workspace).resolve()})",
                                         flush=True))
