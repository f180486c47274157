"""``neuralbrush quantize|superpixels|enhance``: painterly effects for images, folders and videos.

Options, defaults and help come from the option dataclasses in ``neuralbrush.effects`` (declared once
there); :func:`neuralbrush.core.options.cli_from` builds the command line from them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..core.options import cli_from
from ..effects.options import EnhanceOptions, QuantizeOptions, SuperpixelOptions

_INPUT_HELP = "An image, a folder of images (a folder is written), or a video (.mp4, .gif: a video is written)."
_OUTPUT_HELP = ("Output image (.png), folder, or video (.mp4/.gif); by default beside the input, named "
                "<name>-{effect}.")


def _claim(input: Path, output: Optional[Path], effect: str) -> None:
    """Refuse an output that cannot be written before any image is read (see core.outputs)."""
    from ..core.outputs import claim_output
    from ..effects.batch import plan_output

    kind, _, out = plan_output(input, output, effect)
    claim_output(out, "folder" if kind == "folder" else "file")


def _report(run, label: str) -> None:
    from ..core.progress import info, report_skipped

    if run.kind == "folder":
        print(f"{label}: {len(run.outputs)} image(s) -> {run.output}")
    elif run.kind == "video":
        print(f"{label}: {run.frames} frame(s) -> {run.output}")
    else:
        print(f"{label}: {run.output}")
    report_skipped(run.skipped, str(run.options_file))
    info(f"options: {run.options_file}")


@cli_from(QuantizeOptions)
def quantize_cmd(
    input: Path = typer.Argument(..., help=_INPUT_HELP),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help=_OUTPUT_HELP.format(effect="quantize")),
    *, opts: QuantizeOptions,
) -> None:
    """Reduce colours with k-means; writes the image, <name>-palette.txt/.json (hex and share of each
    colour) and <name>-swatch.png. Alpha is kept; a video shares one palette over all frames."""
    from ..effects.batch import run_effect
    from ..effects.runners import QuantizeEffect

    effect = QuantizeEffect(opts)
    _claim(input, output, effect.name)
    run = run_effect(effect, input, output)
    _report(run, "quantized")
    if run.kind != "folder":
        hexes = effect.summary().get("palette", [])
        print("palette: " + " ".join(hexes))


@cli_from(SuperpixelOptions)
def superpixels_cmd(
    input: Path = typer.Argument(..., help=_INPUT_HELP),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help=_OUTPUT_HELP.format(effect="superpixels")),
    *, opts: SuperpixelOptions,
) -> None:
    """SLIC superpixels, each filled with its mean colour, optionally outlined."""
    from ..effects.batch import run_effect
    from ..effects.runners import SuperpixelEffect

    effect = SuperpixelEffect(opts)
    _claim(input, output, effect.name)
    run = run_effect(effect, input, output)
    _report(run, "superpixels")
    regions = effect.summary().get("regions")
    if isinstance(regions, int):
        print(f"regions: {regions}")


@cli_from(EnhanceOptions)
def enhance_cmd(
    input: Path = typer.Argument(..., help=_INPUT_HELP),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help=_OUTPUT_HELP.format(effect="enhance")),
    *, opts: EnhanceOptions,
) -> None:
    """Auto-contrast, gamma, saturation, CLAHE and sharpening (in that order; each optional)."""
    from ..core.errors import UsageError
    from ..effects.batch import run_effect
    from ..effects.runners import EnhanceEffect

    if opts.is_noop():
        raise UsageError("nothing to do: give at least one of --auto-contrast, --gamma, --saturation, --clahe, --sharpen")
    effect = EnhanceEffect(opts)
    _claim(input, output, effect.name)
    run = run_effect(effect, input, output)
    _report(run, "enhanced")


def register(app: typer.Typer) -> None:
    app.command("quantize")(quantize_cmd)
    app.command("superpixels")(superpixels_cmd)
    app.command("enhance")(enhance_cmd)
