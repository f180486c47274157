"""The command line: one thin typer module per command group (see main.COMMAND_MODULES)."""
