import json

import numpy as np
import pytest
from PIL import Image

from neuralbrush.cli.main import run
from neuralbrush.core.media import read_gif, video_info, write_video
from neuralbrush.datasets.samples import skimage_photo
from neuralbrush.effects.batch import input_kind, run_effect
from neuralbrush.effects.quantize import QuantizeOptions
from neuralbrush.effects.runners import QuantizeEffect


def _frames(n=10, size=(64, 48)):
    """A camera pan across a photo: the colours stay, their positions move."""
    photo = np.asarray(skimage_photo("coffee").convert("RGB").resize((160, 120)))
    w, h = size
    return [photo[20:20 + h, 4 * i:4 * i + w].copy() for i in range(n)]


def test_video_shares_one_palette_over_all_frames(tmp_path):
    src = write_video(_frames(), tmp_path / "pan.gif", fps=10)
    assert input_kind(src) == "video"
    effect = QuantizeEffect(QuantizeOptions(colors=6))
    result = run_effect(effect, src, tmp_path / "pan-q.gif")
    assert result.kind == "video" and result.frames == 10
    palette = {tuple(int(v) for v in bytes.fromhex(h[1:])) for h in
               (tmp_path / "pan-q-palette.txt").read_text().split()}
    assert len(palette) == 6
    used = set()
    for frame in read_gif(tmp_path / "pan-q.gif"):
        cols = {tuple(c) for c in np.asarray(frame).reshape(-1, 3)}
        assert cols <= palette  # every frame draws from the one palette: no flicker of colours
        used |= cols
    assert len(used) >= 5
    shares = [e["share"] for e in json.loads((tmp_path / "pan-q-palette.json").read_text())["palette"]]
    assert sum(shares) == pytest.approx(1.0)
    opts = json.loads((tmp_path / "pan-q-options.json").read_text())
    assert opts["kind"] == "video" and opts["frames"] == 10


def test_mp4_in_mp4_out_through_the_cli(tmp_path, capsys):
    src = write_video(_frames(8), tmp_path / "pan.mp4", fps=8)
    assert run(["superpixels", str(src), "--segments", "30", "--outline", "black", "-o", str(tmp_path / "sp.mp4")]) == 0
    info = video_info(tmp_path / "sp.mp4")
    assert info["frames"] == 8 and info["size"] == (64, 48)
    assert "8 frame(s)" in capsys.readouterr().out
    assert run(["enhance", str(src), "--clahe", "-o", str(tmp_path / "bad.png")]) == 2
    assert "must be a .mp4 or .gif" in capsys.readouterr().err


def test_folder_in_folder_out_skips_unreadable_files(tmp_path, capsys):
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    for i, name in enumerate(("astronaut", "coffee", "chelsea")):
        img = skimage_photo(name).convert("RGB").resize((64, 48))
        img.save(folder / ("sub" if i == 2 else "") / f"{name}.jpg")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    out = tmp_path / "q"
    assert run(["quantize", str(folder), "-k", "4", "--dither", "ordered", "-o", str(out)]) == 0
    assert "3 image(s)" in capsys.readouterr().out
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png") if "-" not in p.name)
    assert written == ["astronaut.png", "coffee.png", "sub/chelsea.png"]
    assert (out / "sub" / "chelsea-palette.txt").exists() and (out / "coffee-swatch.png").exists()
    opts = json.loads((out / "options.json").read_text())
    assert opts["outputs"] == 3 and opts["skipped"][0]["path"].endswith("broken.png")
    assert opts["options"]["dither"] == "ordered"


def test_cli_image_commands_and_errors(tmp_path, capsys):
    img = tmp_path / "cat.png"
    skimage_photo("chelsea").convert("RGB").resize((90, 60)).save(img)
    assert run(["quantize", str(img), "--colors", "5", "--space", "lab", "-o", str(tmp_path / "q.png")]) == 0
    line = [l for l in capsys.readouterr().out.splitlines() if l.startswith("palette:")][0]
    assert len(line.split()[1:]) == 5
    assert len({tuple(c) for c in np.asarray(Image.open(tmp_path / "q.png")).reshape(-1, 3)}) == 5
    assert run(["quantize", str(img), "--palette", "#000000,#ffffff", "--dither", "floyd"]) == 0
    assert (tmp_path / "cat-quantize.png").exists() and (tmp_path / "cat-quantize-palette.txt").exists()
    assert run(["superpixels", str(img), "-n", "40", "-o", str(tmp_path / "s.png")]) == 0
    assert run(["enhance", str(img), "--auto-contrast", "--saturation", "1.2", "--gamma", "0.9", "--clahe",
                "--sharpen", "-o", str(tmp_path / "e.png")]) == 0
    assert json.loads((tmp_path / "e-options.json").read_text())["options"]["clahe"] is True
    capsys.readouterr()
    for argv, needle in ((["quantize", str(tmp_path / "nope.png")], "does not exist"),
                         (["quantize", str(img), "--dither", "zigzag"], "--dither"),
                         (["quantize", str(img), "--palette", "nofile.txt"], "does not exist"),
                         (["enhance", str(img)], "nothing to do"),
                         (["quantize", str(img), "-o", str(img)], "overwrite the input")):
        assert run(argv) == 2, argv
        assert needle in capsys.readouterr().err


def test_options_json_reruns_a_run_and_the_command_line_wins(tmp_path, capsys):
    img = tmp_path / "cat.png"
    skimage_photo("chelsea").convert("RGB").resize((90, 60)).save(img)
    assert run(["superpixels", str(img), "-n", "25", "--compactness", "30", "--outline", "white",
                "-o", str(tmp_path / "a.png")]) == 0
    assert run(["superpixels", str(img), "--config", str(tmp_path / "a-options.json"), "-o", str(tmp_path / "b.png")]) == 0
    assert np.array_equal(np.asarray(Image.open(tmp_path / "a.png")), np.asarray(Image.open(tmp_path / "b.png")))
    assert run(["superpixels", str(img), "--config", str(tmp_path / "a-options.json"), "--outline-width", "2",
                "-o", str(tmp_path / "c.png")]) == 0
    c = json.loads((tmp_path / "c-options.json").read_text())["options"]
    assert c["segments"] == 25 and c["compactness"] == 30 and c["outline"] == "white" and c["outline_width"] == 2
    capsys.readouterr()
    assert run(["enhance", str(img), "--config", str(tmp_path / "a-options.json")]) == 2
    assert "does not know" in capsys.readouterr().err


def test_video_is_decoded_twice_only_when_a_palette_must_be_fitted(tmp_path, monkeypatch):
    import neuralbrush.core.media as media

    src = write_video(_frames(6), tmp_path / "pan.gif", fps=6)
    opened = []
    real = media.read_video

    def counting(path, *a, **kw):
        opened.append(path)
        return real(path, *a, **kw)

    monkeypatch.setattr(media, "read_video", counting)
    from neuralbrush.effects.runners import SuperpixelEffect
    from neuralbrush.effects.superpixels import SuperpixelOptions

    assert run_effect(SuperpixelEffect(SuperpixelOptions(segments=20)), src, tmp_path / "sp.gif").frames == 6
    assert len(opened) == 1  # superpixels needs no shared state: one pass
    fixed = QuantizeEffect(QuantizeOptions(colors=2, palette="#000000,#ffffff"))
    assert run_effect(fixed, src, tmp_path / "bw.gif").frames == 6
    assert len(opened) == 2  # a given palette: one pass
    assert run_effect(QuantizeEffect(QuantizeOptions(colors=4)), src, tmp_path / "q.gif").frames == 6
    assert len(opened) == 4  # a fitted palette: a sampling pass, then the mapping pass
