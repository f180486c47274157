"""Our own reader of torch.save files: the same tensors as torch, nothing else run."""

from __future__ import annotations

import collections
import io
import zipfile

import pytest
import torch
from torch import nn

from neuralbrush.core.errors import CheckpointError
from neuralbrush.core.torchfile import load_torch_file


def _saved(obj, legacy: bool) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf, _use_new_zipfile_serialization=not legacy)
    return buf.getvalue()


def _state() -> collections.OrderedDict:
    g = torch.Generator().manual_seed(0)
    conv = nn.Conv2d(3, 4, 3)
    bn = nn.BatchNorm2d(4)
    bn.running_mean.normal_(generator=g)
    sd = collections.OrderedDict(conv.state_dict(prefix="conv."))
    sd.update(bn.state_dict(prefix="bn."))  # includes an int64 num_batches_tracked scalar
    base = torch.randn(5, 6, generator=g)
    sd["view_row"] = base[2]                 # a view with an offset into a shared storage
    sd["view_t"] = base.t()                  # non-contiguous strides
    sd["base"] = base
    sd["half"] = torch.randn(7, generator=g).to(torch.bfloat16)
    sd["mask"] = torch.rand(3, 3, generator=g) > 0.5
    sd["empty"] = torch.zeros(0, 4)
    return sd


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_reads_what_torch_wrote(legacy):
    sd = _state()
    got = load_torch_file(_saved(sd, legacy))
    assert list(got) == list(sd)
    for k, v in sd.items():
        assert got[k].dtype == v.dtype and got[k].shape == v.shape, k
        assert torch.equal(got[k], v), k
    assert got["view_t"].stride() == sd["view_t"].stride()
    # tensors that shared a storage in the file share one after loading
    assert got["view_row"].untyped_storage().data_ptr() == got["base"].untyped_storage().data_ptr()


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_parameters_and_files_on_disk(tmp_path, legacy):
    p = nn.Parameter(torch.arange(4.0))
    path = tmp_path / "p.pth"
    path.write_bytes(_saved({"p": p, "n": 3}, legacy))
    got = load_torch_file(path)
    assert isinstance(got["p"], nn.Parameter) and torch.equal(got["p"].data, p.data) and got["n"] == 3


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_code_in_the_file_never_runs(tmp_path, legacy):
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            import os
            return (os.system, (f"touch {marker}",))

    with pytest.raises(CheckpointError, match="asks for posix.system|asks for os.system"):
        load_torch_file(_saved({"w": torch.ones(2), "x": Evil()}, legacy))
    assert not marker.exists()


def test_damaged_files_are_one_line_errors(tmp_path):
    good = _saved({"w": torch.ones(100)}, legacy=True)
    with pytest.raises(CheckpointError, match="truncated|not a readable"):
        load_torch_file(good[:-40])
    with pytest.raises(CheckpointError):
        load_torch_file(b"not torch at all")
    with pytest.raises(CheckpointError, match="does not exist"):
        load_torch_file(tmp_path / "missing.pth")
    # a zip that is not from torch.save
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("readme.txt", "hello")
    with pytest.raises(CheckpointError, match="not one written by torch.save"):
        load_torch_file(buf.getvalue())


def test_a_tensor_cannot_reach_past_its_storage():
    """A crafted file whose tensor claims more elements than its storage holds is refused
    (as_strided on an unchecked size would read other memory)."""
    good = _saved({"w": torch.ones(4)}, legacy=False)
    zin = zipfile.ZipFile(io.BytesIO(good))
    names = zin.namelist()
    pkl_name = next(n for n in names if n.endswith("data.pkl"))
    data = zin.read(pkl_name)
    # the size tuple (4,) is pickled as K\x04\x85 (BININT1 4, TUPLE1); ask for 1000 elements instead
    assert data.count(b"K\x04\x85") == 1
    bad = data.replace(b"K\x04\x85", b"M\xe8\x03\x85")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for n in names:
            z.writestr(n, bad if n == pkl_name else zin.read(n))
    with pytest.raises(CheckpointError, match="past the end of its storage"):
        load_torch_file(out.getvalue())
