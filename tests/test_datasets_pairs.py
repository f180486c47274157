"""pix2pix pairs: derived inputs (edges, clusters), pair layout, augmentation, the CLI."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest
from PIL import Image

from neuralbrush.cli.main import run
from neuralbrush.core.imageio import load_image
from neuralbrush.datasets.pairs import (CLUSTER_PALETTE, PairsOptions, augment_pair, build_pairs, derive_input,
                                        edges_input, luminance, make_pair, pair_files, split_pair)
from neuralbrush.datasets.reader import center_crop_resize
from neuralbrush.datasets.samples import skimage_photo, write_blooms


@pytest.fixture(scope="module")
def astronaut() -> Image.Image:
    return center_crop_resize(skimage_photo("astronaut"), 256)


def _dark(img: Image.Image) -> np.ndarray:
    return np.asarray(img.convert("L")) < 128


def test_edges_are_dark_lines_on_white(astronaut):
    e = derive_input(astronaut, "edges")
    assert e.size == astronaut.size and e.mode == "RGB"
    arr = np.asarray(e)
    assert set(np.unique(arr).tolist()) <= {0, 255}
    density = _dark(e).mean()
    assert 0.02 < density < 0.20, density
    thick = edges_input(astronaut, thickness=3)
    assert _dark(thick).mean() > 1.8 * density
    assert _dark(thick)[_dark(e)].all()  # thicker lines cover the thin ones


def test_edge_thresholds_adapt_to_contrast(astronaut):
    rgb = np.asarray(astronaut).astype(np.float32)
    dim = (rgb * 0.25 + 40).round().astype(np.uint8)  # low contrast, darker
    e0, e1 = _dark(derive_input(astronaut, "edges")), _dark(derive_input(dim, "edges"))
    assert 0.02 < e1.mean() < 0.20 and abs(e1.mean() - e0.mean()) < 0.4 * e0.mean()
    # the edges are in the same places: most low-contrast edge pixels lie within 1 px of an original one
    import cv2

    near = cv2.dilate(e0.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    assert near[e1].mean() > 0.8
    # a flat image has no edges at all
    assert not _dark(derive_input(np.full((64, 64, 3), 128, np.uint8), "edges")).any()


def _colors(img: Image.Image) -> set[tuple[int, int, int]]:
    return {tuple(c) for c in np.unique(np.asarray(img).reshape(-1, 3), axis=0).tolist()}


def test_clusters_use_the_fixed_palette(astronaut):
    for k in (3, 7):
        c = derive_input(astronaut, "clusters", clusters=k)
        assert c.size == astronaut.size
        assert _colors(c) == set(CLUSTER_PALETTE[:k])
    # the same photo re-encoded losslessly (PNG, RGBA with opaque alpha, TIFF) gives the same map
    ref = np.asarray(derive_input(astronaut, "clusters"))
    for fmt, img in (("PNG", astronaut), ("PNG", astronaut.convert("RGBA")), ("TIFF", astronaut)):
        buf = io.BytesIO()
        img.save(buf, format=fmt)
        again = np.asarray(derive_input(load_image(buf.getvalue()), "clusters"))
        assert np.array_equal(ref, again), fmt
    # a high-quality JPEG re-encode keeps (almost) every pixel's cluster
    buf = io.BytesIO()
    astronaut.save(buf, format="JPEG", quality=95)
    jpeg = np.asarray(derive_input(load_image(buf.getvalue()), "clusters"))
    assert (jpeg == ref).all(axis=2).mean() > 0.95


def test_clusters_are_painted_by_luminance_rank_not_photo_colour():
    # seven flat stripes of known colours; a copy with other hues but the same luminance order
    # must give the identical semantic map
    rng = np.random.default_rng(3)
    greys = np.array([20, 55, 90, 125, 160, 195, 230])
    order = rng.permutation(7)
    stripes = np.repeat(np.repeat(greys[order][None, :], 48, axis=0), 10, axis=1)
    grey_img = np.repeat(stripes[:, :, None], 3, axis=2).astype(np.uint8)
    tinted = grey_img.astype(np.int32)
    tinted[..., 0] = np.clip(tinted[..., 0] + 25, 0, 255)
    tinted[..., 2] = np.clip(tinted[..., 2] - 25, 0, 255)
    a = np.asarray(derive_input(grey_img, "clusters", clusters=7))
    b = np.asarray(derive_input(tinted.astype(np.uint8), "clusters", clusters=7))
    assert np.array_equal(a, b)
    for j in range(7):  # stripe j has luminance rank order[j]
        assert tuple(a[0, j * 10]) == CLUSTER_PALETTE[order[j]]
    assert np.all(np.diff(luminance(grey_img[0, ::10])[np.argsort(order)]) > 0)


def test_pair_layout_and_split(astronaut):
    pair = make_pair(astronaut, "edges", 128)
    assert pair.size == (256, 128)
    a, b = split_pair(pair)
    assert np.array_equal(np.asarray(b), np.asarray(center_crop_resize(astronaut, 128)))
    assert np.array_equal(np.asarray(a), np.asarray(derive_input(b, "edges")))
    wide = Image.new("RGB", (300, 100), (200, 30, 30))
    padded = make_pair(wide, "clusters", 64, crop="pad", pad_color=(0, 0, 0), clusters=2)
    a, b = split_pair(padded)
    assert np.asarray(b)[0, 32].tolist() == [0, 0, 0] and np.asarray(b)[32, 32].tolist() == [200, 30, 30]
    with pytest.raises(Exception):
        split_pair(Image.new("RGB", (31, 16)))


def test_augment_pair_applies_identical_geometry():
    x = center_crop_resize(skimage_photo("chelsea"), 96)
    results = []
    for seed in range(12):
        a, b = augment_pair(x, x.copy(), size=80, rng=np.random.default_rng(seed))
        assert a.size == b.size == (80, 80)
        assert np.array_equal(np.asarray(a), np.asarray(b))
        results.append(np.asarray(a))
    # the geometry really varies with the seed (scale, crop, flip)
    assert len({r.tobytes() for r in results}) >= 10
    # a flipped crop appears: some result equals the mirror of an unflipped one at the same seed
    flips = 0
    for seed in range(12):
        a1, _ = augment_pair(x, x, size=80, rng=np.random.default_rng(seed), flip=False)
        a2, _ = augment_pair(x, x, size=80, rng=np.random.default_rng(seed))
        flips += np.array_equal(np.asarray(a2), np.asarray(a1)[:, ::-1])
    assert 1 <= flips <= 11


def test_pairs_cli_on_blooms_with_a_bad_file(tmp_path, capsys):
    src = tmp_path / "photos"
    write_blooms(src, 6, size=96, seed=5)
    (src / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nthis is not really a png")
    out = tmp_path / "pairs"
    assert run(["dataset", "pairs", str(src), "-o", str(out), "--size", "64", "--val-fraction", "0.34"]) == 0
    msg = capsys.readouterr().err
    assert "broken.png" in msg
    train, val = pair_files(out, "train"), pair_files(out, "val")
    assert len(train) == 4 and len(val) == 2
    for p in train + val:
        img = load_image(p)
        assert img.size == (128, 64)
        a, _ = split_pair(img)
        assert set(np.unique(np.asarray(a)).tolist()) <= {0, 255}
    doc = json.loads((out / "dataset.json").read_text())
    assert doc["format"] == "neuralbrush-pairs" and doc["input"] == "edges" and doc["size"] == 64
    assert doc["counts"] == {"train": 4, "val": 2, "rejected": 1}
    assert len(doc["pairs"]) == 6 and all(len(r["sha256"]) == 64 and r["original_size"] == [96, 96] for r in doc["pairs"])
    assert {r["split"] for r in doc["pairs"]} == {"train", "val"}
    assert doc["rejected"][0]["source"].endswith("broken.png")
    assert doc["rejected"][0]["reason"] in ("corrupt", "truncated", "not-an-image")
    assert "broken.png" in (out / "rejected.txt").read_text()
    assert (out / "contact_sheet.png").exists() and (out / "options.json").exists()
    # B halves are the photos themselves
    by_source = {r["source"]: r["file"] for r in doc["pairs"]}
    first = str(src / "bloom_00000.png")
    _, b = split_pair(load_image(out / by_source[first]))
    assert np.array_equal(np.asarray(b), np.asarray(center_crop_resize(load_image(first), 64)))


def test_pairs_from_a_zip_with_clusters(tmp_path):
    paths = write_blooms(tmp_path / "b", 3, size=80, seed=1)
    zpath = tmp_path / "photos.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for p in paths:
            zf.write(p, f"inner/{p.name}")
    res = build_pairs([zpath], tmp_path / "out", PairsOptions(input="clusters", clusters=5, size=48))
    assert res.train == 3 and not res.rejected
    for p in pair_files(tmp_path / "out"):
        a, _ = split_pair(load_image(p))
        assert _colors(a) <= set(CLUSTER_PALETTE[:5]) and len(_colors(a)) == 5
    doc = json.loads((tmp_path / "out" / "dataset.json").read_text())
    assert doc["cluster_colors"] == [list(c) for c in CLUSTER_PALETTE[:5]]
    assert doc["pairs"][0]["source"].startswith(str(zpath) + ":inner/")


def test_pairs_cli_user_errors(tmp_path, capsys):
    write_blooms(tmp_path / "p", 1, size=32)
    assert run(["dataset", "pairs", str(tmp_path / "p"), "-o", str(tmp_path / "o"), "--input", "sketch"]) == 2
    assert "--input" in capsys.readouterr().err  # refused by the parser (a Literal choice)
    assert run(["dataset", "pairs", str(tmp_path / "nothing"), "-o", str(tmp_path / "o")]) == 2


def test_pairs_refuses_to_mix_runs_unless_overwrite(tmp_path, capsys):
    write_blooms(tmp_path / "p", 2, size=40)
    out = tmp_path / "o"
    args = ["dataset", "pairs", str(tmp_path / "p"), "-o", str(out), "--size", "32"]
    assert run(args) == 0
    assert run(args) == 2 and "--overwrite" in capsys.readouterr().err
    assert run(args + ["--overwrite", "--val-fraction", "0.5"]) == 0
    assert len(pair_files(out, "train")) == 1 and len(pair_files(out, "val")) == 1
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "a.jpg").write_bytes(b"")
    assert run(["dataset", "pairs", str(tmp_path / "bad"), "-o", str(tmp_path / "o2")]) == 2
    err = capsys.readouterr().err
    assert "none of the 1 files" in err and "a.jpg: empty" in err
    assert not (tmp_path / "o2").exists()  # a run that fails on its inputs writes nothing
    # nor does it touch the pairs of an earlier run it was asked to overwrite
    before = sorted(p.name for p in out.rglob("*.png"))
    assert run(["dataset", "pairs", str(tmp_path / "bad"), "-o", str(out), "--overwrite"]) == 2
    assert sorted(p.name for p in out.rglob("*.png")) == before and not (out / ".staging").exists()
