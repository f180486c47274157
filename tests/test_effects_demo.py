from PIL import Image

from neuralbrush.datasets.samples import skimage_photo
from neuralbrush.effects.demo import run_demo


def test_demo_stage_writes_its_gallery(tmp_path):
    photos = {}
    for name in ("chelsea", "astronaut", "coffee"):
        p = tmp_path / "photos" / f"{name}.png"
        p.parent.mkdir(exist_ok=True)
        img = skimage_photo(name)
        img.resize((img.width // 4, img.height // 4)).save(p)
        photos[name] = p
    items = run_demo(tmp_path / "out", full=False, context={"photos": photos})
    assert [i["title"] for i in items] == ["Quantized to 8 colours", "Dithering with 4 colours", "Stained glass",
                                           "Enhanced"]
    for item in items:
        assert Image.open(tmp_path / "out" / item["path"]).width > 0 and item["caption"]
    assert len((tmp_path / "out" / "effects" / "quantize-8-palette.txt").read_text().split()) == 8
