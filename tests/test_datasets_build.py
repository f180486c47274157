"""dataset build: every kind of good and bad input, layout, reports, dedupe, labels, CLI."""

from __future__ import annotations

import csv
import io
import json
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from neuralbrush.cli.main import run
from neuralbrush.core.errors import UsageError
from neuralbrush.datasets.build import BuildOptions, build_dataset, image_name, report_dir_for
from neuralbrush.datasets.dedupe import NearDuplicateIndex, hamming, phash
from neuralbrush.datasets.reader import ImageDataset
from neuralbrush.datasets.samples import bloom


def _encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def bomb_png(width: int, height: int) -> bytes:
    """A tiny valid-looking PNG whose header claims width x height RGB pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
            + _png_chunk(b"IEND", b""))


def make_mixed_folder(root: Path) -> tuple[set[str], dict[str, str]]:
    """Good files (names) and bad files (name -> expected reason) of every awkward kind."""
    root.mkdir(parents=True, exist_ok=True)
    good: set[str] = set()
    bad: dict[str, str] = {}

    def put(name: str, data: bytes, reason: str | None = None) -> None:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
        if reason is None:
            good.add(name)
        else:
            bad[name] = reason

    b = bloom(256, 1)
    put("plain.png", _encode(b, "PNG"))
    put("nested/deeper/photo.jpg", _encode(bloom(300, 2).crop((0, 0, 300, 250)), "JPEG", quality=92))
    put("cmyk.jpg", _encode(bloom(260, 3).convert("CMYK"), "JPEG"))
    ramp = np.tile(np.linspace(0, 65535, 256).astype(np.uint16), (256, 1))  # 16-bit horizontal ramp
    put("sixteen.png", _encode(Image.fromarray(ramp), "PNG"))
    pal = Image.new("P", (240, 240), 0)
    pal.putpalette([0, 0, 0, 200, 30, 30] + [0] * 762)
    pal.paste(1, (80, 80, 160, 160))
    put("palette.png", _encode(pal, "PNG", transparency=0))
    raw = Image.new("RGB", (400, 300), (220, 20, 20))
    raw.paste((20, 20, 220), (0, 0, 200, 300))  # left half blue in the stored pixels
    exif = Image.Exif()
    exif[0x0112] = 6  # display rotated 90 degrees clockwise: blue ends up on top
    put("rotated.jpg", _encode(raw, "JPEG", exif=exif, quality=95))
    frames = [Image.new("RGB", (220, 220), c) for c in ((230, 30, 30), (30, 230, 30), (30, 30, 230))]
    put("animated.gif", _encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100))
    put("animated.png", _encode(frames[0], "PNG", save_all=True, append_images=frames[1:], duration=100))
    put("grey.webp", _encode(b.convert("L"), "WEBP", lossless=True))

    put("tiny.png", _encode(bloom(40, 4), "PNG"), "too-small")
    jpg = _encode(bloom(300, 5), "JPEG")
    png = _encode(bloom(300, 6), "PNG")
    put("truncated.jpg", jpg[: len(jpg) // 2], "truncated")
    put("truncated.png", png[: len(png) // 2], "truncated")
    broken = bytearray(png)
    broken[200:600] = bytes(400)  # zeroed compressed pixel data inside a complete file
    put("corrupt.png", bytes(broken), "corrupt")
    put("empty.jpg", b"", "empty")
    put("notes.png", b"this is a text file, not a picture\n", "not-an-image")
    put("bomb.png", bomb_png(15000, 15000), "too-large")
    (root / "README.txt").write_text("not an image extension: ignored\n")
    return good, bad


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    root = tmp_path_factory.mktemp("mixed") / "src"
    good, bad = make_mixed_folder(root)
    out = root.parent / "built.zip"
    result = build_dataset([root], out, size=64, min_size=200)
    return root, good, bad, out, result


def test_mixed_folder_keeps_every_good_and_reports_every_bad(mixed):
    root, good, bad, out, result = mixed
    assert result.accepted == len(good) == result.written
    assert result.candidates == len(good) + len(bad)
    assert result.ignored == 1
    got = {Path(r.path).relative_to(root).as_posix(): r.reason for r in result.rejected}
    assert got == bad
    report = report_dir_for(out)
    assert report == out.parent / "built-report"
    rows = list(csv.DictReader(open(report / "rejected.csv", encoding="utf-8")))
    assert {Path(r["path"]).relative_to(root).as_posix(): r["reason"] for r in rows} == bad
    assert all(r["detail"] for r in rows)
    assert json.loads((report / "rejected.json").read_text())[0]["reason"] in bad.values()
    summary = json.loads((report / "summary.json").read_text())
    assert summary["accepted"] == len(good) and summary["rejected_by_reason"]["truncated"] == 2
    opts = json.loads((report / "options.json").read_text())
    assert opts["size"] == 64 and opts["crop"] == "center" and opts["sources"] == [str(root)]
    assert Image.open(report / "contact_sheet.png").size[0] > 64
    gif = Image.open(report / "preview.gif")
    assert gif.n_frames > 1  # (Pillow merges identical consecutive frames)


def test_layout_metadata_and_reader(mixed):
    root, good, bad, out, result = mixed
    with zipfile.ZipFile(out) as z:
        names = sorted(z.namelist())
        meta = json.loads(z.read("dataset.json"))
    assert names == sorted([image_name(i) for i in range(len(good))] + ["dataset.json"])
    assert names[0] == "00000/img00000000.png"
    assert meta["labels"] is None
    by_source = {Path(m["source"]).relative_to(root).as_posix(): m for m in meta["images"]}
    assert set(by_source) == good
    import hashlib

    assert by_source["plain.png"]["sha256"] == hashlib.sha256((root / "plain.png").read_bytes()).hexdigest()
    ops = {k: [o["op"] for o in v["ops"]] for k, v in by_source.items()}
    assert "exif-rotate" in ops["rotated.jpg"]
    assert by_source["rotated.jpg"]["original_size"] == [300, 400]
    assert {"op": "convert", "from": "CMYK", "to": "RGB"} in by_source["cmyk.jpg"]["ops"]
    assert any(o["op"] == "convert" and o["from"].startswith("I;16") for o in by_source["sixteen.png"]["ops"])
    assert "composite-alpha" in ops["palette.png"]
    assert "first-frame" in ops["animated.gif"] and "first-frame" in ops["animated.png"]
    assert "crop" in ops["nested/deeper/photo.jpg"] and "resize" in ops["plain.png"]

    ds = ImageDataset(out)
    assert len(ds) == len(good) and ds.resolution == 64

    def pixels(name: str) -> np.ndarray:
        idx = ds.names.index(by_source[name]["name"])
        return ds.image(idx).astype(int)

    rot = pixels("rotated.jpg")  # EXIF applied: blue on top, red at the bottom
    assert rot[2, 32, 2] > 180 and rot[2, 32, 0] < 70
    assert rot[-3, 32, 0] > 180 and rot[-3, 32, 2] < 70
    six = pixels("sixteen.png")  # full 16-bit range mapped to 0..255, not clipped or wrapped
    assert six[:, 0].max() < 12 and six[:, -1].min() > 243
    assert np.all(np.diff(six[32, :, 0]) >= -1)
    assert 110 < six[32, 32, 0] < 145
    pal = pixels("palette.png")  # transparent index composited on white
    assert (pal[1, 1] == 255).all() and pal[32, 32, 0] > 150 and pal[32, 32, 1] < 80
    cmyk = pixels("cmyk.jpg")
    ref = np.asarray(bloom(260, 3).resize((64, 64), Image.LANCZOS)).astype(int)
    assert np.abs(cmyk - ref).mean() < 12  # CMYK converted back to the right colours
    anim = pixels("animated.gif")
    assert anim[..., 0].mean() > 180 and anim[..., 1].mean() < 80  # the first (red) frame


def test_bomb_header_rejected_without_allocating(tmp_path):
    """A 50000x50000 header (7.5 GB of pixels) is refused from its header: peak memory stays flat."""
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "bomb.png").write_bytes(bomb_png(50000, 50000))
    (tmp_path / "src" / "ok.png").write_bytes(_encode(bloom(128, 1), "PNG"))
    code = f"""
import resource, json
from neuralbrush.datasets.build import build_dataset
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
r = build_dataset([{str(tmp_path / 'src')!r}], {str(tmp_path / 'out.zip')!r}, size=32, min_size=64, sample_count=0)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"grew_kb": after - before, "reasons": [x.reason for x in r.rejected], "kept": r.accepted}}))
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**__import__("os").environ, "NEURALBRUSH_QUIET": "1"})
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    assert res["reasons"] == ["too-large"] and res["kept"] == 1
    assert res["grew_kb"] < 100_000  # far below the 7.5 GB the header asks for


def test_pad_mirror_and_folder_output(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    wide = Image.new("RGB", (400, 200), (250, 250, 0))
    wide.paste((0, 200, 0), (0, 0, 100, 200))  # a green strip on the left to see the flip
    wide.save(src / "wide.png")
    out = tmp_path / "padded"
    r = build_dataset([src], out, size=32, min_size=300, crop="pad", pad_color="#ff00ff", mirror=True)
    assert r.accepted == 1 and r.written == 2
    assert (out / "00000" / "img00000000.png").is_file() and (out / "00000" / "img00000001.png").is_file()
    assert not list(tmp_path.glob(".padded.partial*"))
    a = np.asarray(Image.open(out / "00000" / "img00000000.png")).astype(int)
    m = np.asarray(Image.open(out / "00000" / "img00000001.png")).astype(int)
    assert (a[0, 16] == [255, 0, 255]).all() and (a[-1, 16] == [255, 0, 255]).all()  # letterbox rows
    assert a[16, 2, 1] > 180 and a[16, 2, 0] < 40 and a[16, -3, 0] > 230  # green left, yellow right
    assert np.array_equal(m, a[:, ::-1])
    meta = json.loads((out / "dataset.json").read_text())
    assert meta["images"][1]["mirror_of"] == meta["images"][0]["name"]
    assert meta["images"][1]["ops"][-1] == {"op": "mirror"}
    assert [o["op"] for o in meta["images"][0]["ops"]] == ["resize", "pad"]
    ds = ImageDataset(out)
    assert len(ds) == 2
    with pytest.raises(UsageError, match="already exists"):
        build_dataset([src], out, size=32, min_size=300, crop="pad")
    r2 = build_dataset([src], out, size=32, min_size=300, crop="pad", overwrite=True)
    assert r2.written == 1 and len(ImageDataset(out)) == 1


def test_dedupe_exact_and_near(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    base = bloom(256, 11)
    base.save(src / "a_original.png")
    base.save(src / "b_same_pixels.bmp")
    (src / "c_same_bytes.png").write_bytes((src / "a_original.png").read_bytes())
    base.save(src / "d_recompressed.jpg", quality=85)
    base.resize((240, 240), Image.LANCZOS).save(src / "e_resized.png")
    for i in range(30):
        bloom(256, 100 + i).save(src / f"f_other_{i:02d}.png")
    r = build_dataset([src], tmp_path / "dd.zip", size=32, min_size=200, dedupe=True)
    dup = {Path(x.path).name: (x.reason, Path(x.duplicate_of).name) for x in r.rejected}
    assert dup == {"b_same_pixels.bmp": ("duplicate", "a_original.png"),
                   "c_same_bytes.png": ("duplicate", "a_original.png"),
                   "d_recompressed.jpg": ("near-duplicate", "a_original.png"),
                   "e_resized.png": ("near-duplicate", "a_original.png")}
    assert r.accepted == 31
    rows = list(csv.DictReader(open(r.report_dir / "rejected.csv", encoding="utf-8")))
    assert all(row["duplicate_of"].endswith("a_original.png") for row in rows)


def test_phash_index_matches_brute_force():
    rng = np.random.default_rng(0)
    hashes = [int(h) for h in rng.integers(0, 2**63, 400, dtype=np.int64)]
    hashes += [h ^ (1 << int(rng.integers(0, 64))) ^ (1 << int(rng.integers(0, 64))) for h in hashes[:50]]
    idx = NearDuplicateIndex(threshold=5)
    for i, h in enumerate(hashes):
        found = idx.find(h)
        brute = [(hamming(h, g), j) for j, g in enumerate(hashes[:i]) if hamming(h, g) <= 5]
        if brute:
            assert found is not None and found[1] == min(brute)[0]
        else:
            assert found is None
        idx.add(h, i)
    a, b = bloom(64, 1), bloom(64, 2)
    assert hamming(phash(a), phash(a.resize((60, 60)))) <= 4 < hamming(phash(a), phash(b))


def test_labels_from_folders_and_zip_source(tmp_path):
    zpath = tmp_path / "pets.zip"
    with zipfile.ZipFile(zpath, "w") as z:
        for i in range(3):
            z.writestr(f"cats/c{i}.png", _encode(bloom(128, i), "PNG"))
            z.writestr(f"dogs/sub/d{i}.jpg", _encode(bloom(128, 10 + i), "JPEG"))
        z.writestr("loose.png", _encode(bloom(128, 50), "PNG"))
        z.writestr("dogs/broken.png", b"\x89PNG\r\n\x1a\nnope")
        z.writestr("__MACOSX/cats/._c0.png", b"junk")
    folder = tmp_path / "more"
    (folder / "birds").mkdir(parents=True)
    bloom(128, 77).save(folder / "birds" / "b.png")
    r = build_dataset([zpath, folder], tmp_path / "labelled", size=16, min_size=64, labels_from_folders=True)
    assert r.label_names == ["birds", "cats", "dogs"]
    assert r.accepted == 7
    reasons = {x.path: x.reason for x in r.rejected}
    assert reasons == {f"{zpath}:loose.png": "no-label", f"{zpath}:dogs/broken.png": "not-an-image"}
    meta = json.loads((tmp_path / "labelled" / "dataset.json").read_text())
    lab = dict((n, l) for n, l in meta["labels"])
    src_label = {m["source"].split(":")[-1]: lab[m["name"]] for m in meta["images"]}
    assert src_label["cats/c1.png"] == 1 and src_label["dogs/sub/d2.jpg"] == 2 and src_label[str(folder / "birds" / "b.png")] == 0
    ds = ImageDataset(tmp_path / "labelled", use_labels=True)
    assert ds.label_dim == 3 and len(ds) == 7


def test_folder_label_conveniences(tmp_path):
    wrapped = tmp_path / "wrapped.zip"  # one folder wrapping the class folders is looked through
    with zipfile.ZipFile(wrapped, "w") as z:
        z.writestr("pets/cats/a.png", _encode(bloom(64, 1), "PNG"))
        z.writestr("pets/dogs/b.png", _encode(bloom(64, 2), "PNG"))
    flat = tmp_path / "owls"  # a flat folder given on its own is one class named after it
    flat.mkdir()
    bloom(64, 3).save(flat / "o.png")
    r = build_dataset([wrapped, flat], tmp_path / "l.zip", size=16, min_size=32, labels_from_folders=True)
    assert r.label_names == ["cats", "dogs", "owls"] and r.accepted == 3 and not r.rejected


def test_max_images_and_workers_agree(tmp_path):
    src = tmp_path / "src"
    for i in range(12):
        (src / f"{i % 2}").mkdir(parents=True, exist_ok=True)
        bloom(96, i).save(src / f"{i % 2}" / f"x{i:02d}.png")
    (src / "0" / "bad.png").write_bytes(b"nope")
    one = build_dataset([src], tmp_path / "one.zip", size=16, min_size=64, max_images=9)
    assert one.accepted == 9
    two = build_dataset([src], tmp_path / "two.zip", size=16, min_size=64, max_images=9, workers=2)
    assert two.accepted == 9 and [x.reason for x in two.rejected] == [x.reason for x in one.rejected]
    with zipfile.ZipFile(tmp_path / "one.zip") as a, zipfile.ZipFile(tmp_path / "two.zip") as b:
        assert sorted(a.namelist()) == sorted(b.namelist())
        for n in a.namelist():
            if n.endswith(".png"):
                assert a.read(n) == b.read(n)


def test_options_validation_and_errors(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for bad in (dict(size=100), dict(size=2), dict(crop="squash"), dict(pad_color="not-a-colour"), dict(min_size=-1)):
        with pytest.raises(UsageError):
            build_dataset([src], tmp_path / "o.zip", **bad)
    with pytest.raises(UsageError, match="does not exist"):
        build_dataset([tmp_path / "nope"], tmp_path / "o.zip")
    (src / "junk.png").write_bytes(b"")
    with pytest.raises(UsageError, match=r"no usable images among 1 candidates \(1 empty\), e.g. junk.png: empty"):
        build_dataset([src], tmp_path / "o.zip", size=16)
    assert not (tmp_path / "o.zip").exists() and not (tmp_path / "o-report").exists()
    with pytest.raises(UsageError, match="inside the source"):
        build_dataset([src], src / "out", size=16)
    assert BuildOptions().size == 256 and BuildOptions().min_size == 800


def test_cli_build(tmp_path, capsys):
    src = tmp_path / "src"
    src.mkdir()
    for i in range(3):
        bloom(128, i).save(src / f"{i}.png")
    (src / "bad.jpg").write_bytes(b"\xff\xd8\xff\xe0garbage")
    out = tmp_path / "cli.zip"
    assert run(["dataset", "build", str(src), "-o", str(out), "--size", "32", "--min-size", "64", "--mirror"]) == 0
    printed = capsys.readouterr()
    assert str(out) in printed.out
    assert len(ImageDataset(out)) == 6
    assert run(["dataset", "build", str(src), "-o", str(tmp_path / "x.zip"), "--size", "48"]) == 2
    assert "power of two" in capsys.readouterr().err
    assert run(["dataset", "build", "--help"]) == 0
    assert "--max-images" in capsys.readouterr().out


@pytest.mark.slow
def test_demo_stage(tmp_path):
    from neuralbrush.datasets.demo import run_demo

    context: dict = {}
    items = run_demo(tmp_path, full=False, context=context)
    assert {i["title"] for i in items} == {"Dataset contact sheet", "Dataset preview", "Face alignment"}
    for i in items:
        assert (tmp_path / i["path"]).is_file() and i["caption"]
    ds = ImageDataset(context["dataset"])
    assert len(ds) == 240 and ds.resolution == 64
    assert set(context["photos"]) == {"astronaut", "chelsea", "coffee", "rocket"}
    assert all(Path(p).is_file() for p in context["photos"].values())
    summary = json.loads((Path(context["dataset"]).parent / "blooms-report" / "summary.json").read_text())
    assert summary["rejected_by_reason"] == {"duplicate": 1, "empty": 1, "near-duplicate": 1, "not-an-image": 1,
                                             "too-small": 1, "truncated": 1}


def _square_or_die(x: int) -> int:
    if x == 5:
        import os

        os._exit(3)  # a decoder crashing hard takes its worker process down
    return x * x


def test_worker_crash_is_contained():
    from neuralbrush.datasets.parallel import ordered_map

    out = list(ordered_map(_square_or_die, range(9), workers=2, window=4, on_crash=lambda x: f"crashed {x}"))
    assert out == [0, 1, 4, 9, 16, "crashed 5", 36, 49, 64]


def test_oversized_files_refused_unread(tmp_path):
    from neuralbrush.core.errors import ImageLoadError
    from neuralbrush.datasets.sources import iter_sources

    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "big.png").write_bytes(b"\0" * 5000)
    with zipfile.ZipFile(tmp_path / "a.zip", "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("inner/big.jpg", b"\0" * 5000)  # compresses to a few bytes: a zip bomb in miniature
    items = list(iter_sources([tmp_path / "src", tmp_path / "a.zip"]))
    assert [i.rel for i in items] == ["big.png", "inner/big.jpg"]
    for it in items:
        with pytest.raises(ImageLoadError) as ei:
            it.read_bytes(max_bytes=4096)
        assert ei.value.reason == "too-large"
        assert len(it.read_bytes()) == 5000
