"""Demo stage: neural style transfer on the scikit-image photographs.

Paints a photo (chelsea by default) in the style of a procedural bloom, shows the result beside
a luminance-only (colour-preserving) version, and writes an animation of the image becoming
styled across the coarse-to-fine scales. Uses the stored VGG-19 when the weights store has it;
otherwise random weights, and the captions say so (the pictures are then not meaningful art).
Fast mode works at ~160 px with few steps; full mode runs the default recipe at 512 px.
"""

from __future__ import annotations

import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any


def run_demo(out: Path, *, full: bool, context: dict[str, Any]) -> list[dict[str, str]]:
    from ..core.checkpoint import write_json
    from ..core.imageio import load_image, save_image
    from ..core.media import VideoWriter, side_by_side
    from ..core.progress import info
    from ..datasets.samples import bloom, skimage_photo
    from ..weights import store
    from .options import StyleOptions
    from .schedule import fit_size
    from .transfer import StyleTransfer

    root = Path(out) / "style"
    root.mkdir(parents=True, exist_ok=True)
    photos = context.get("photos") or {}
    name = "chelsea" if "chelsea" in photos or not photos else sorted(photos)[0]
    content = load_image(photos[name]) if name in photos else skimage_photo(name)
    style = bloom(512 if full else 256, seed=21)
    save_image(style, root / "style-bloom.png")

    vgg = "store" if store.find("vgg19") else "random"
    weights_note = ("VGG-19: torchvision ImageNet weights from the store." if vgg == "store" else
                    "VGG-19 weights are not in the store here, so this ran with RANDOM weights: the losses and timings "
                    "are real but the picture is not meaningful art (run `neuralbrush weights fetch vgg19`).")
    if full:
        chosen: dict[str, Any] = {"size": 512}
    else:
        chosen = {"size": 160, "min_scale": 112, "initial_iterations": 60, "iterations": 40, "final_iterations": 40}
    opts = StyleOptions(**chosen)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        st = StyleTransfer(vgg=vgg)
        st.model(opts.content_layers + opts.style_layers)  # built here, so the Python warning stays quiet
    info(f"style: painting {name} at {opts.size} px on {st.runtime.describe()} ({vgg} VGG-19 weights)")

    final_wh = fit_size(content.size, opts.size)
    every = 10 if full else 5
    anim_path = root / "becoming-styled.gif"
    losses: list[float] = []
    with VideoWriter(anim_path, fps=12, value_range=(0, 1)) as writer:
        def snap(it) -> None:
            if it.step == 1 or it.step % every == 0 or it.step == it.total:
                im = it.image()
                writer.append(im.resize(final_wh, resample=3) if im.size != final_wh else im)
            if it.scale_step == it.scale_steps:
                losses.append(it.loss)

        styled = st.stylize(content, [style], opts, progress=snap)
    save_image(styled, root / f"{name}-styled.png")
    info("style: luminance-only (colour-preserving) version")
    kept = st.stylize(content, [style], replace(opts, preserve_color="luminance"))
    save_image(kept, root / f"{name}-styled-luminance.png")

    sheet = side_by_side([content.resize(final_wh), style.resize((final_wh[1], final_wh[1])), styled, kept],
                         labels=["photo", "style", "styled", "colours kept"], pad=4)
    save_image(sheet, root / "style-sheet.png")
    write_json(root / "style-options.json", {"content": name, "style": "bloom(seed=21)", "vgg": vgg,
                                              "precision": st.runtime.precision, **chosen,
                                              "loss_at_end_of_each_scale": losses})
    context["style_output"] = str(root / f"{name}-styled.png")
    return [
        {"title": "Neural style transfer", "path": "style/style-sheet.png",
         "caption": f"Gatys transfer of a bloom's style onto {name}: coarse-to-fine L-BFGS (the default "
                    f"recipe), {opts.size} px; right: luminance-only transfer keeps the photo's colours. {weights_note}"},
        {"title": "Becoming styled", "path": "style/becoming-styled.gif",
         "caption": f"Snapshots every {every} steps through the coarse-to-fine scales (each scale starts from the "
                    f"previous one upsampled). {weights_note}"},
    ]
