"""``neuralbrush quantize|superpixels|enhance``: painterly effects for images, folders and videos.

Defaults come from the option dataclasses in ``neuralbrush.effects`` (declared once there).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..effects.enhance import EnhanceOptions as _E
from ..effects.quantize import QuantizeOptions as _Q
from ..effects.superpixels import SuperpixelOptions as _S

_INPUT_HELP = "An image, a folder of images (a folder is written), or a video (.mp4, .gif: a video is written)."
_OUTPUT_HELP = ("Output image (.png), folder, or video (.mp4/.gif); by default beside the input, named "
                "<name>-{effect}.")


_CONFIG_HELP = ("Options JSON of an earlier run (<name>-options.json) to run again; options given on the "
                "command line win.")


def _options(ctx: typer.Context, cls, config: Optional[Path], values: dict):
    """Build the options dataclass: command-line values, over ``config`` (an earlier run's options
    JSON), over the defaults."""
    from dataclasses import fields

    from ..core.checkpoint import read_json
    from ..core.errors import UsageError

    merged = dict(values)
    if config is not None:
        if not config.is_file():
            raise UsageError(f"config file {config} does not exist")
        data = read_json(config)
        data = data.get("options", data) if isinstance(data, dict) else data
        if not isinstance(data, dict):
            raise UsageError(f"{config} does not hold an options object")
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise UsageError(f"{config} has options this command does not know: {', '.join(unknown)}")
        for name, value in data.items():
            source = ctx.get_parameter_source(name)
            if source is None or source.name in ("DEFAULT", "DEFAULT_MAP"):
                merged[name] = value
    return cls(**merged)


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


def quantize_cmd(
    ctx: typer.Context,
    input: Path = typer.Argument(..., help=_INPUT_HELP),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help=_OUTPUT_HELP.format(effect="quantize")),
    colors: int = typer.Option(_Q.colors, "--colors", "-k", min=1, max=256,
                               help="Palette size k (k-means colours); the output has exactly k colours "
                                    "when the image has at least k and --dither is none."),
    space: str = typer.Option(_Q.space, "--space", help="Colour distances in rgb or lab (perceptual)."),
    dither: str = typer.Option(_Q.dither, "--dither",
                               help="none, floyd (Floyd-Steinberg error diffusion) or ordered (8x8 Bayer)."),
    palette: Optional[str] = typer.Option(_Q.palette, "--palette",
                                          help="Fixed palette instead of k-means: a file (hex lines, JSON, or an "
                                               "image to take colours from) or a list like '#112233,#ffcc00,navy'."),
    seed: int = typer.Option(_Q.seed, "--seed", help="Seed for the pixel sample and k-means initialisation."),
    sample: int = typer.Option(_Q.sample, "--sample", min=0,
                               help="Pixels the palette is fitted on (0 = all)."),
    config: Optional[Path] = typer.Option(None, "--config", help=_CONFIG_HELP),
) -> None:
    """Reduce colours with k-means; writes the image, <name>-palette.txt/.json (hex and share of each
    colour) and <name>-swatch.png. Alpha is kept; a video shares one palette over all frames."""
    from ..effects.quantize import QuantizeOptions
    from ..effects.runners import QuantizeEffect
    from ..effects.batch import run_effect

    opts = _options(ctx, QuantizeOptions, config, dict(colors=colors, space=space.lower(), dither=dither.lower(),
                                                       palette=palette, seed=seed, sample=sample))
    effect = QuantizeEffect(opts)
    _claim(input, output, effect.name)
    run = run_effect(effect, input, output)
    _report(run, "quantized")
    if run.kind != "folder":
        hexes = effect.summary().get("palette", [])
        print("palette: " + " ".join(hexes))


def superpixels_cmd(
    ctx: typer.Context,
    input: Path = typer.Argument(..., help=_INPUT_HELP),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help=_OUTPUT_HELP.format(effect="superpixels")),
    segments: int = typer.Option(_S.segments, "--segments", "-n", min=1, help="About how many regions SLIC makes."),
    compactness: float = typer.Option(_S.compactness, "--compactness", min=0.001,
                                      help="Higher: squarer, more regular regions; lower: regions hug edges."),
    outline: Optional[str] = typer.Option(_S.outline, "--outline",
                                          help="Draw region borders in this colour (#hex, r,g,b or a name): "
                                               "stained glass."),
    outline_width: int = typer.Option(_S.outline_width, "--outline-width", min=1, help="Border width in pixels."),
    sigma: float = typer.Option(_S.sigma, "--sigma", min=0.0, help="Gaussian smoothing before segmenting."),
    config: Optional[Path] = typer.Option(None, "--config", help=_CONFIG_HELP),
) -> None:
    """SLIC superpixels, each filled with its mean colour, optionally outlined."""
    from ..effects.batch import run_effect
    from ..effects.runners import SuperpixelEffect
    from ..effects.superpixels import SuperpixelOptions

    opts = _options(ctx, SuperpixelOptions, config, dict(segments=segments, compactness=compactness, outline=outline,
                                                         outline_width=outline_width, sigma=sigma))
    effect = SuperpixelEffect(opts)
    _claim(input, output, effect.name)
    run = run_effect(effect, input, output)
    _report(run, "superpixels")
    regions = effect.summary().get("regions")
    if isinstance(regions, int):
        print(f"regions: {regions}")


def enhance_cmd(
    ctx: typer.Context,
    input: Path = typer.Argument(..., help=_INPUT_HELP),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help=_OUTPUT_HELP.format(effect="enhance")),
    auto_contrast: bool = typer.Option(_E.auto_contrast, "--auto-contrast",
                                       help="Stretch luminance so the darkest/brightest --cutoff percent clip."),
    cutoff: float = typer.Option(_E.cutoff, "--cutoff", min=0.0, max=49.9,
                                 help="Percent clipped at each end by --auto-contrast."),
    gamma: float = typer.Option(_E.gamma, "--gamma", min=0.01,
                                help="Gamma on 0..1 values (out = in ** gamma): below 1 brightens midtones."),
    saturation: float = typer.Option(_E.saturation, "--saturation", min=0.0,
                                     help="Colourfulness: 0 gray, 1 unchanged, 1.2 a little richer."),
    clahe: bool = typer.Option(_E.clahe, "--clahe", help="Local contrast (CLAHE) on the lightness channel."),
    clahe_clip: float = typer.Option(_E.clahe_clip, "--clahe-clip", min=0.01, help="CLAHE clip limit."),
    clahe_tiles: int = typer.Option(_E.clahe_tiles, "--clahe-tiles", min=1, help="CLAHE tiles per side."),
    sharpen: bool = typer.Option(_E.sharpen, "--sharpen", help="Unsharp mask."),
    sharpen_amount: float = typer.Option(_E.sharpen_amount, "--sharpen-amount", min=0.0,
                                         help="How much of the detail (image minus blur) is added back."),
    sharpen_radius: float = typer.Option(_E.sharpen_radius, "--sharpen-radius", min=0.01,
                                         help="Blur sigma in pixels for the unsharp mask."),
    config: Optional[Path] = typer.Option(None, "--config", help=_CONFIG_HELP),
) -> None:
    """Auto-contrast, gamma, saturation, CLAHE and sharpening (in that order; each optional)."""
    from ..core.errors import UsageError
    from ..effects.batch import run_effect
    from ..effects.enhance import EnhanceOptions
    from ..effects.runners import EnhanceEffect

    opts = _options(ctx, EnhanceOptions, config, dict(
        auto_contrast=auto_contrast, cutoff=cutoff, gamma=gamma, saturation=saturation, clahe=clahe,
        clahe_clip=clahe_clip, clahe_tiles=clahe_tiles, sharpen=sharpen, sharpen_amount=sharpen_amount,
        sharpen_radius=sharpen_radius))
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
