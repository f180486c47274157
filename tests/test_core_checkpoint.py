"""Checkpoints are safetensors + JSON, atomic, and refuse the wrong kind of file."""

from __future__ import annotations

import pytest
import torch

from neuralbrush.core.checkpoint import (load_checkpoint, prefixed, read_json, read_meta, save_checkpoint,
                                         unprefixed, write_json)
from neuralbrush.core.errors import CheckpointError


def test_roundtrip_with_meta(tmp_path):
    net = torch.nn.Linear(4, 3)
    p = save_checkpoint(tmp_path / "c.safetensors", prefixed(net.state_dict(), "G"),
                        {"format": "test.net", "version": 1, "kwargs": {"in": 4}, "nimg": torch.tensor(7)})
    tensors, meta = load_checkpoint(p, expect_format="test.net")
    assert meta["kwargs"] == {"in": 4} and meta["nimg"] == 7
    net2 = torch.nn.Linear(4, 3)
    net2.load_state_dict(unprefixed(tensors, "G"))
    assert torch.equal(net2.weight, net.weight)
    assert read_meta(p)["format"] == "test.net"
    assert [f.name for f in tmp_path.iterdir()] == ["c.safetensors"]


def test_wrong_format_and_garbage_refused(tmp_path):
    p = save_checkpoint(tmp_path / "c.safetensors", {"x": torch.zeros(2)}, {"format": "a"})
    with pytest.raises(CheckpointError, match="expected 'b'"):
        load_checkpoint(p, expect_format="b")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x80\x04garbage pickle")
    with pytest.raises(CheckpointError):
        load_checkpoint(bad)
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "missing.safetensors")


def test_failed_write_keeps_previous_file(tmp_path):
    p = save_checkpoint(tmp_path / "c.safetensors", {"x": torch.ones(2)}, {"format": "a"})
    with pytest.raises(TypeError):
        save_checkpoint(p, {"x": torch.zeros(2)}, {"format": "a", "bad": object()})
    tensors, _ = load_checkpoint(p)
    assert torch.equal(tensors["x"], torch.ones(2))
    assert len(list(tmp_path.iterdir())) == 1


def test_json_helpers(tmp_path):
    write_json(tmp_path / "o.json", {"a": torch.tensor(1.5), "p": tmp_path})
    assert read_json(tmp_path / "o.json")["a"] == 1.5
    (tmp_path / "x.json").write_text("{broken")
    with pytest.raises(CheckpointError):
        read_json(tmp_path / "x.json")


def test_foreign_pth_read_safely(tmp_path):
    from neuralbrush.core.checkpoint import read_torch_state_dict

    good = tmp_path / "g.pth"
    torch.save({"state_dict": {"w": torch.ones(2)}}, good)
    assert torch.equal(read_torch_state_dict(good)["w"], torch.ones(2))
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            import os
            return (os.system, (f"touch {marker}",))

    bad = tmp_path / "evil.pth"
    torch.save({"w": Evil()}, bad)
    with pytest.raises(CheckpointError, match="refusing to load .*nothing in it was run"):
        read_torch_state_dict(bad)
    assert not marker.exists()
    junk = tmp_path / "junk.pth"
    junk.write_text("not torch")
    with pytest.raises(CheckpointError):
        read_torch_state_dict(junk)


def test_atomic_writes_get_the_usual_file_mode(tmp_path):
    import os
    import stat

    from neuralbrush.core.imageio import save_image
    from neuralbrush.datasets.samples import bloom

    old = os.umask(0o022)
    try:
        plain = tmp_path / "plain.txt"
        plain.write_text("x")
        write_json(tmp_path / "a.json", {"k": 1})
        save_image(bloom(16, seed=1), tmp_path / "b.png")
    finally:
        os.umask(old)
    want = stat.S_IMODE(plain.stat().st_mode)  # 0644: readable by a web server or a colleague
    assert want == 0o644
    for name in ("a.json", "b.png"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == want, name


def test_stale_temporaries_are_exactly_what_atomic_writes_leave(tmp_path):
    """The cleaner recognises atomic_path's own temporaries (a kill -9 leaves them) and nothing else."""
    from neuralbrush.core.checkpoint import atomic_path, clean_stale_temporaries, stale_temporaries

    (tmp_path / "network-snapshot-0000001.safetensors").write_bytes(b"kept")
    (tmp_path / ".hidden.txt").write_text("a user's file")
    (tmp_path / "plan.tmp.safetensors").write_text("a user's file")
    with atomic_path(tmp_path / "network-snapshot-0000002.safetensors") as tmp:
        tmp.write_bytes(b"\0" * 2048)
        assert stale_temporaries(tmp_path, "network-snapshot-*") == [tmp]  # what a kill here would leave
        assert stale_temporaries(tmp_path, "fakes*") == []
        assert clean_stale_temporaries(tmp_path, "network-snapshot-*") == (1, 2048)
        tmp.write_bytes(b"x")  # the interrupted writer is gone; let this one finish
    assert sorted(p.name for p in tmp_path.iterdir()) == [".hidden.txt", "network-snapshot-0000001.safetensors",
                                                         "network-snapshot-0000002.safetensors",
                                                         "plan.tmp.safetensors"]


def test_failed_write_names_the_target_not_the_temporary(tmp_path, monkeypatch):
    import errno

    import neuralbrush.core.checkpoint as ckpt

    def full(tensors, filename, metadata=None):
        raise OSError(errno.ENOSPC, "No space left on device", filename)

    monkeypatch.setattr(ckpt, "save_file", full)
    target = tmp_path / "c.safetensors"
    with pytest.raises(OSError) as e:
        save_checkpoint(target, {"x": torch.zeros(2)}, {"format": "a"})
    assert e.value.errno == errno.ENOSPC and e.value.filename == str(target)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("metadata,words", [("[1, 2]", "a JSON list"), ("{broken", "not valid JSON"),
                                            ('{"no": "format"}', "without a 'format'")])
def test_damaged_metadata_is_one_checkpoint_error(tmp_path, metadata, words):
    from safetensors.torch import save_file

    p = tmp_path / "m.safetensors"
    save_file({"x": torch.zeros(2)}, str(p), metadata={"neuralbrush": metadata})
    for reader in (read_meta, load_checkpoint):
        with pytest.raises(CheckpointError, match=words) as e:
            reader(p)
        assert str(p) in str(e.value)
    (tmp_path / "bin.json").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(CheckpointError, match="not a JSON text file"):
        read_json(tmp_path / "bin.json")
