"""The one frame cache: mismatch policy, --restart, damaged frames, shards, atomic writes, assembly."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from neuralbrush.core.errors import UsageError
from neuralbrush.core.framecache import FrameCache, chunk_range, share


def _img(value: int) -> Image.Image:
    return Image.fromarray(np.full((8, 8, 3), value, np.uint8))


def _filled(folder, signature, frames=range(4)) -> FrameCache:
    cache = FrameCache(folder, signature).open()
    for i in frames:
        cache.put(i, _img(10 * i))
    return cache


def test_same_signature_resumes_and_todo_lists_only_missing_frames(tmp_path):
    _filled(tmp_path / "c", {"model": "a", "size": (64, 48)}, frames=[0, 2])
    again = FrameCache(tmp_path / "c", {"model": "a", "size": [64, 48]}).open()  # a tuple reads back as a list
    assert not again.created
    assert again.todo(4) == [1, 3]
    assert np.asarray(again.get(2))[0, 0, 0] == 20
    assert json.loads((tmp_path / "c" / "cache.json").read_text()) == {"model": "a", "size": [64, 48]}


def test_changed_signature_is_refused_naming_restart_and_keeps_every_frame(tmp_path):
    _filled(tmp_path / "c", {"model": "a", "iterations": 10})
    before = sorted(p.name for p in (tmp_path / "c").iterdir())
    with pytest.raises(UsageError, match=r"other options \(iterations\); run again with --restart") as e:
        FrameCache(tmp_path / "c", {"model": "a", "iterations": 11}).open()
    assert "--cache" in str(e.value) and "\n" not in str(e.value)
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == before


def test_the_refusal_names_nested_keys_that_differ(tmp_path):
    _filled(tmp_path / "c", {"model": "a", "style": {"iterations": 10, "size": 64}})
    with pytest.raises(UsageError, match=r"other options \(model, style.iterations\)"):
        FrameCache(tmp_path / "c", {"model": "b", "style": {"iterations": 11, "size": 64}}).open()


@pytest.mark.parametrize("state", ["frames-without-signature", "unreadable-signature", "signature-not-an-object"])
def test_a_cache_of_unknown_origin_is_refused_naming_restart(tmp_path, state):
    folder = tmp_path / "c"
    folder.mkdir()
    _img(1).save(folder / "frame_000000.png")
    if state == "unreadable-signature":
        (folder / "cache.json").write_text("{not json", encoding="utf-8")
    elif state == "signature-not-an-object":
        (folder / "cache.json").write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(UsageError, match="--restart"):
        FrameCache(folder, {"model": "a"}).open()
    assert (folder / "frame_000000.png").exists()


def test_restart_clears_the_frames_but_not_other_files(tmp_path):
    _filled(tmp_path / "c", {"model": "a"})
    (tmp_path / "c" / "notes.txt").write_text("mine", encoding="utf-8")
    cache = FrameCache(tmp_path / "c", {"model": "b"}, restart=True).open()
    assert cache.todo(4) == [0, 1, 2, 3]
    assert (tmp_path / "c" / "notes.txt").read_text() == "mine"
    assert json.loads((tmp_path / "c" / "cache.json").read_text()) == {"model": "b"}


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_a_damaged_frame_is_removed_and_redone(tmp_path, damage):
    cache = _filled(tmp_path / "c", {"model": "a"})
    p = cache.path(1)
    data = p.read_bytes()
    p.write_bytes({"truncated": data[: len(data) // 2], "garbage": b"\x89PNG not really", "empty": b""}[damage])
    assert cache.todo(4) == [1] and not p.exists()
    cache.put(1, _img(99))
    assert cache.todo(4) == []


def test_get_of_a_damaged_frame_is_one_sentence_and_removes_it(tmp_path):
    cache = _filled(tmp_path / "c", {"model": "a"})
    cache.path(3).write_bytes(b"junk")
    with pytest.raises(UsageError, match="frame 3 .* damaged .* run the same command again"):
        cache.get(3)
    assert not cache.path(3).exists()


@pytest.mark.parametrize("count", [0, 1, 5, 7, 16])
@pytest.mark.parametrize("world", [1, 2, 3, 4])
def test_shards_cover_every_frame_exactly_once(count, world):
    contiguous = [share(count, "contiguous", r, world) for r in range(world)]
    round_robin = [share(count, "round-robin", r, world) for r in range(world)]
    for shards in (contiguous, round_robin):
        flat = [i for s in shards for i in s]
        assert sorted(flat) == list(range(count)) and len(flat) == count
        assert max(map(len, shards)) - min(map(len, shards)) <= 1
    for r, s in enumerate(contiguous):  # one unbroken run per rank, in rank order
        assert s == list(range(*chunk_range(count, r, world)))
    if count >= world > 1:
        assert round_robin[1][:1] == [1] and contiguous[1][0] == len(contiguous[0])


def test_todo_is_per_rank(tmp_path):
    cache = _filled(tmp_path / "c", {"model": "a"}, frames=[0, 1, 5])
    assert cache.todo(8, "round-robin", rank=1, world=2) == [3, 7]
    assert cache.todo(8, "contiguous", rank=0, world=2) == [2, 3]
    assert cache.todo(8, "contiguous", rank=1, world=2) == [4, 6, 7]
    with pytest.raises(ValueError):
        cache.todo(8, "random", rank=0, world=1)  # type: ignore[arg-type]


def test_atomic_put_leaves_no_partial_file_when_the_write_fails(tmp_path, monkeypatch):
    cache = _filled(tmp_path / "c", {"model": "a"}, frames=[0])
    old = cache.path(0).read_bytes()
    real_save = Image.Image.save

    def dies_half_way(self, fp, *args, **kwargs):
        real_save(self, fp, *args, **kwargs)
        with open(fp, "r+b") as f:  # half a file on disk, then the process "crashes"
            f.truncate(f.seek(0, 2) // 2)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", dies_half_way)
    for i in (0, 1):
        with pytest.raises(OSError):
            cache.put(i, _img(200))
    monkeypatch.undo()
    assert cache.path(0).read_bytes() == old  # the finished frame is untouched
    assert not cache.path(1).exists()
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == ["cache.json", "frame_000000.png"]


def test_open_removes_temporaries_of_a_killed_run(tmp_path):
    cache = _filled(tmp_path / "c", {"model": "a"}, frames=[0])
    (tmp_path / "c" / ".frame_000001.png.abcd1234.tmp.png").write_bytes(b"half")
    FrameCache(tmp_path / "c", {"model": "a"}).open()
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == ["cache.json", "frame_000000.png"]
    assert cache.todo(2) == [1]


def test_assemble_in_order_refuses_missing_frames_and_cleanup_removes_only_the_cache(tmp_path):
    cache = _filled(tmp_path / "c", {"model": "a"}, frames=[0, 1, 3])
    seen: list[int] = []
    with pytest.raises(UsageError, match=r"1 of 4 frames are missing .* \(first: frame 2\)"):
        cache.assemble(4, lambda i, im: seen.append(i))
    assert seen == []
    cache.put(2, _img(20))
    assert cache.assemble(4, lambda i, im: seen.append(int(np.asarray(im)[0, 0, 0]))) is True
    assert seen == [0, 10, 20, 30]
    cache.cleanup()
    assert not (tmp_path / "c").exists()
    kept = _filled(tmp_path / "k", {"model": "a"}, frames=[0])
    (tmp_path / "k" / "notes.txt").write_text("mine", encoding="utf-8")
    kept.cleanup()
    assert [p.name for p in (tmp_path / "k").iterdir()] == ["notes.txt"]


def test_a_cache_path_that_is_a_file_is_refused_and_nothing_is_created(tmp_path):
    f = tmp_path / "cache"
    f.write_text("x", encoding="utf-8")
    with pytest.raises(UsageError, match="frame cache .* is a file"):
        FrameCache(f, {"model": "a"}).open()
    assert f.read_text() == "x"
