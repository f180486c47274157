"""One module per studio tab, each exposing ``build(ctx: StudioContext) -> None``, called inside its
``gr.Tab`` (see :data:`neuralbrush.studio.app.TABS` for the order and labels). A tab calls library
functions with options dataclasses, runs heavy work through ``ctx.jobs`` (worker processes) and light
previews in-process, shows ``ctx.command(...)`` (the equivalent CLI command) and links results with
``ctx.file_link(path)``; errors reach the page as one sentence through ``ctx.guard`` / ``ctx.fail``.
"""
