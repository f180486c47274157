"""Every command that writes, against outputs that cannot be written.

One table lists the commands with minimal valid inputs (tiny images, a 3-frame clip, a 16 px
random StyleGAN2 snapshot, a 32 px pix2pix model trained for one epoch). Each row is run with
its output

* below a regular file (``blocker/out``),
* of the wrong kind (a folder where a file goes, a file where a folder goes),
* on storage the system reports read-only (the preflight's ``statvfs`` sees ``ST_RDONLY``),
* in a folder where writing is refused (``EACCES`` from the first write),
* on a disk that fills up (``ENOSPC`` from the first write),

and must fail as a user error: exit 2, one ``error:`` line naming the path, no traceback, and
no file or folder left behind. The first three are caught by the preflight before any model
loads; the last two happen mid-command, so they also check that partial files are cleaned up.
"""

from __future__ import annotations

import errno
import json
import os
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Callable

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adversarial_harness import assert_ok, assert_refused, run_cli

pytestmark = pytest.mark.usefixtures("one_thread")

CPU = ["--device", "cpu", "--precision", "fp32"]
STYLE_FAST = ["--vgg", "random", "--size", "16", "--min-scale", "16", "--iterations", "1", "--initial-iterations", "1",
              "--no-scales"]


@pytest.fixture(scope="module")
def inp(tmp_path_factory) -> SimpleNamespace:
    """Minimal valid inputs for every command, made once, outside the watched folders."""
    import torch

    from gan_helpers import small_stylegan
    from neuralbrush.core.media import write_video
    from neuralbrush.datasets.samples import bloom, skimage_photo, write_blooms
    from neuralbrush.gan.snapshot import save_snapshot
    from neuralbrush.pix2pix.options import TrainOptions
    from neuralbrush.pix2pix.train import train

    root = tmp_path_factory.mktemp("inputs")
    photo = root / "photo.png"
    skimage_photo("astronaut").resize((32, 32)).save(photo)
    style = root / "style.png"
    bloom(32, seed=3).save(style)
    photos = root / "photos"
    write_blooms(photos, 2, 32, seed=1)
    (photos / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    clip = root / "clip.gif"
    write_video([np.asarray(bloom(32, seed=i)) for i in range(3)], clip, fps=5)
    blooms = root / "blooms16"
    write_blooms(blooms, 8, 16, seed=0)

    snapshot = root / "network-snapshot-000000.safetensors"
    save_snapshot(snapshot, arch="stylegan2", G=small_stylegan(16), G_ema=small_stylegan(16))
    from neuralbrush.latent.latents import Latents, save_latents

    G = small_stylegan(16)
    with torch.no_grad():
        w = G.mapping(torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(0)), None)
    w_file = save_latents(root / "w.npz", Latents(w=w[:1]))
    story = root / "story.yaml"
    story.write_text(f"model: {snapshot}\nfps: 5\nspace: w\ntransition: {{frames: 2}}\n"
                     "keyframes: [{seed: 1}, {seed: 2}]\n", encoding="utf-8")
    weights_file = root / "lpips.pth"  # LPIPS v0.1's linear layers: the smallest file the catalogue knows
    torch.save({f"lin{k}.model.1.weight": torch.zeros(1, c, 1, 1) for k, c in enumerate((64, 128, 256, 512, 512))},
               weights_file)

    p2p = train(TrainOptions(data=str(blooms), input="edges", size=32, ngf=8, ndf=8, batch=4, epochs=1,
                             epochs_decay=0, snap_minutes=0, precision="fp32", device="cpu",
                             outdir=str(root / "p2p-runs")))
    return SimpleNamespace(root=root, photo=photo, style=style, photos=photos, clip=clip, blooms=blooms,
                           snapshot=snapshot, w=w_file, story=story, p2p=p2p.run_dir, weights_file=weights_file,
                           flickr_api=_flickr_stub())


@dataclass(frozen=True)
class Command:
    name: str
    kind: str  # what the command writes at OUT: "file" or "folder"
    out: str  # name of OUT inside the test's folder
    argv: Callable[[SimpleNamespace, Path, Path], list]  # (inputs, OUT, the test's folder) -> argv
    env_home: bool = False  # OUT is $NEURALBRUSH_HOME (the weights store lives below it)


TRAIN_TINY = ["--cfg", "small", "--batch", "4", "--cbase", "256", "--cmax", "16", "--mbstd", "2", "--kimg", "0.004",
              "--tick", "0.004", "--snap", "1", "--grid", "2x1", "--metrics", "none", "--threads", "1",
              "--workers", "1", *CPU]

COMMANDS = [
    Command("quantize", "file", "q.png", lambda i, o, d: ["quantize", i.photo, "-k", "4", "-o", o]),
    Command("quantize-folder", "folder", "q", lambda i, o, d: ["quantize", i.photos, "-k", "4", "-o", o]),
    Command("superpixels", "file", "s.png", lambda i, o, d: ["superpixels", i.photo, "-n", "20", "-o", o]),
    Command("enhance", "file", "e.png", lambda i, o, d: ["enhance", i.photo, "--gamma", "0.8", "-o", o]),
    Command("enhance-video", "file", "e.gif", lambda i, o, d: ["enhance", i.clip, "--gamma", "0.8", "-o", o]),
    Command("generate", "folder", "gen", lambda i, o, d: ["generate", i.snapshot, "--seeds", "0-1", "-o", o, *CPU]),
    Command("mix", "folder", "mix", lambda i, o, d: ["mix", i.snapshot, "--rows", "1", "--cols", "2", "--styles", "0-1",
                                                  "-o", o, *CPU]),
    Command("project", "folder", "proj", lambda i, o, d: ["project", i.snapshot, i.photo, "--steps", "1", "--loss", "mse",
                                                       "-o", o, *CPU]),
    Command("neighbours", "file", "sheet.png", lambda i, o, d: ["neighbours", i.snapshot, "--w", i.w, "--count", "2",
                                                             "-o", o, *CPU]),
    Command("video-walk", "file", "walk.gif", lambda i, o, d: ["video", "walk", i.snapshot, "--seeds", "1,2",
                                                            "--frames", "2", "-o", o, *CPU]),
    Command("video-storyboard", "file", "film.gif", lambda i, o, d: ["video", "storyboard", i.story, "-o", o, *CPU]),
    Command("storyboard-cache", "folder", "caches/film-cache",
            lambda i, o, d: ["video", "storyboard", i.story, "-o", d / "film.gif", "--cache", o, *CPU]),
    Command("style", "file", "styled.png", lambda i, o, d: ["style", i.photo, "--style", i.style, "-o", o, *STYLE_FAST]),
    Command("style-burst", "folder", "styled", lambda i, o, d: ["style", i.photos, "--style", i.style, "-o", o,
                                                            *STYLE_FAST]),
    Command("style-video", "file", "sv.gif", lambda i, o, d: ["style-video", i.clip, "--style", i.style, "-o", o,
                                                          "--max-frames", "2", *STYLE_FAST]),
    Command("style-video-cache", "folder", "caches/sv-cache",
            lambda i, o, d: ["style-video", i.clip, "--style", i.style, "-o", d / "sv.gif", "--cache", o,
                          "--max-frames", "2", *STYLE_FAST]),
    Command("train", "folder", "runs", lambda i, o, d: ["train", i.blooms, "--outdir", o, *TRAIN_TINY]),
    Command("dataset-build", "folder", "ds", lambda i, o, d: ["dataset", "build", i.photos, "-o", o, "--size", "16",
                                                           "--min-size", "0", "--sample-count", "2"]),
    Command("dataset-build-zip", "file", "ds.zip", lambda i, o, d: ["dataset", "build", i.photos, "-o", o, "--size", "16",
                                                                 "--min-size", "0", "--sample-count", "2"]),
    Command("dataset-pairs", "folder", "pairs", lambda i, o, d: ["dataset", "pairs", i.photos, "-o", o, "--size", "16"]),
    Command("dataset-flickr", "folder", "flickr", lambda i, o, d: ["dataset", "flickr", "--query", "bloom",
                                                                "--api-key", "k", "--api-url", i.flickr_api, "-o", o]),
    Command("pix2pix-train", "folder", "p2p-runs", lambda i, o, d: [
        "pix2pix", "train", i.blooms, "--input", "edges", "--size", "32", "--ngf", "8", "--ndf", "8", "--batch", "4",
        "--epochs", "1", "--epochs-decay", "0", "--snap-minutes", "0", "--outdir", o, *CPU]),
    Command("pix2pix-apply", "file", "p.png", lambda i, o, d: ["pix2pix", "apply", i.p2p, i.photo, "-o", o, *CPU]),
    Command("pix2pix-apply-folder", "folder", "p", lambda i, o, d: ["pix2pix", "apply", i.p2p, i.photos, "-o", o, *CPU]),
    Command("pix2pix-video", "file", "pv.gif", lambda i, o, d: ["pix2pix", "video", i.p2p, i.clip, "-o", o, *CPU]),
    Command("pix2pix-video-frames", "folder", "pv", lambda i, o, d: ["pix2pix", "video", i.p2p, i.clip, "-o", o, *CPU]),
    Command("demo", "folder", "demo", lambda i, o, d: ["demo", "-o", o, "--stage", "datasets"]),
    Command("weights-import", "folder", "home", lambda i, o, d: ["weights", "import", "lpips-vgg", i.weights_file],
            env_home=True),
]
BY_NAME = {c.name: c for c in COMMANDS}


def _inside(path, root: Path) -> bool:
    try:
        return os.path.realpath(os.fspath(path)).startswith(os.path.realpath(root) + os.sep)
    except TypeError:  # a file descriptor
        return False


def _flickr_stub() -> str:
    """A local server answering Flickr's licence table and an empty search; returns its API URL."""
    import threading
    import urllib.parse
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:
            query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))
            if query.get("method") == "flickr.photos.licenses.getInfo":
                answer = {"stat": "ok", "licenses": {"license": [{"id": i, "name": f"licence {i}", "url": ""}
                                                                for i in range(17)]}}
            else:
                answer = {"stat": "ok", "photos": {"page": 1, "pages": 1, "perpage": 100, "total": 0, "photo": []}}
            body = json.dumps(answer).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/services/rest/"


def _fail_writes(monkeypatch, root: Path, code: int) -> None:
    """Renames into ``root`` (how every atomic writer publishes a file) fail with ``code``."""
    real_replace, real_rename = os.replace, os.rename

    def failing(real):
        def fn(src, dst, *a, **kw):
            if _inside(dst, root):
                raise OSError(code, os.strerror(code), os.fspath(src), None, os.fspath(dst))
            return real(src, dst, *a, **kw)
        return fn

    monkeypatch.setattr(os, "replace", failing(real_replace))
    monkeypatch.setattr(os, "rename", failing(real_rename))


def _read_only(monkeypatch, root: Path) -> None:
    """The file system below ``root`` reports itself read-only, as a read-only mount does."""
    real = os.statvfs

    def statvfs(path):
        res = real(path)
        if _inside(path, root) or os.path.realpath(path) == os.path.realpath(root):
            fields = list(res)
            fields[8] |= os.ST_RDONLY  # f_flag
            return os.statvfs_result(fields)
        return res

    monkeypatch.setattr(os, "statvfs", statvfs)


def _setup(cmd: Command, inp, folder: Path, monkeypatch, case: str) -> tuple[Path, list]:
    """OUT for ``case`` and the argv; the world around OUT is prepared as the case needs."""
    out = folder / cmd.out
    if case == "under-file":
        (folder / "blocker").write_text("a regular file\n")
        out = folder / "blocker" / cmd.out
    elif case == "read-only":
        out.parent.mkdir(parents=True, exist_ok=True)
    elif case == "wrong-kind":
        out.parent.mkdir(parents=True, exist_ok=True)
        if cmd.kind == "file":
            out.mkdir()
        else:
            out.write_text("a regular file where a folder goes\n")
    if cmd.env_home:
        monkeypatch.setenv("NEURALBRUSH_HOME", str(out))
    return out, cmd.argv(inp, out, folder)


CASES = ["under-file", "wrong-kind", "read-only", "eacces", "enospc"]
# pix2pix video takes an existing folder named like a video as the folder for PNG frames (documented)
NOT_APPLICABLE = {("pix2pix-video", "wrong-kind")}


@pytest.mark.parametrize("name,case", [(n, c) for n in BY_NAME for c in CASES if (n, c) not in NOT_APPLICABLE])
def test_unwritable_output_is_refused_cleanly(name, case, inp, in_tmp):
    cmd = BY_NAME[name]
    with pytest.MonkeyPatch.context() as mp:
        out, argv = _setup(cmd, inp, in_tmp, mp, case)
        if case == "read-only":
            _read_only(mp, out.parent)
        elif case in ("eacces", "enospc"):
            _fail_writes(mp, in_tmp, errno.EACCES if case == "eacces" else errno.ENOSPC)
        outcome = run_cli(argv, watch=in_tmp)
    expected = {
        "under-file": [str(out), "blocker is a file"],
        "wrong-kind": [str(out), "is a folder" if cmd.kind == "file" else "is a file"],
        "read-only": [str(out), "read-only"],
        # mid-command failures name the file being written: OUT, or a file inside or beside it
        "eacces": [str(out.parent), "permission denied"],
        "enospc": [str(out.parent), "disk full"],
    }[case]
    assert_refused(outcome, match=expected)


def test_system_folders_are_refused_before_work(inp, in_tmp):
    """/proc looks like a folder but holds no files: refused by name, not with ENOENT half-way."""
    outcome = run_cli(["quantize", inp.photo, "-k", "4", "-o", "/proc/neuralbrush-out.png"], watch=in_tmp)
    assert_refused(outcome, match=["/proc/neuralbrush-out.png", "proc system file system"])


# ------------------------------------------------------------------------ the preflight itself

def _make_tree(root: Path, spec: dict) -> None:
    for name, sub in spec.items():
        if sub is None:
            (root / name).write_text("x")
        else:
            (root / name).mkdir()
            _make_tree(root / name, sub)


_names = st.sampled_from(["a", "b", "c.png"])
_trees = st.recursive(st.none(), lambda kids: st.dictionaries(_names, kids, max_size=3), max_leaves=6)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tree=st.dictionaries(_names, _trees, max_size=3), target=st.lists(_names, min_size=1, max_size=4),
       kind=st.sampled_from(["file", "folder"]))
def test_preflight_agrees_with_the_file_system_and_creates_nothing(tree, target, kind, tmp_path_factory):
    """Whatever mix of files and folders surrounds it, the check creates nothing, and says yes
    exactly when the output can then be made (a folder with its parents, or a file)."""
    from neuralbrush.core.outputs import OutputError, check_writable_output

    root = tmp_path_factory.mktemp("tree")
    _make_tree(root, tree)
    path = root.joinpath(*target)
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    try:
        check_writable_output(path, kind)
        refused = None
    except OutputError as e:
        refused = str(e)
        assert str(path) in refused
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before
    try:
        if kind == "folder":
            path.mkdir(parents=True, exist_ok=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("made")
        made = True
    except OSError:
        made = False
    assert made == (refused is None), refused


# ------------------------------------------------------------------------ folder batches

@dataclass(frozen=True)
class Batch:
    """A command that takes a folder: how to run it, and the images it painted into OUT."""

    name: str
    argv: Callable[[SimpleNamespace, Path, Path], list]  # (inputs, source folder, OUT)
    painted: Callable[[Path], list]


def _pngs(out: Path) -> list:
    """The painted images in OUT (not quantize's palette swatches)."""
    return sorted(p.name for p in out.glob("*.png") if not p.name.endswith("-swatch.png")) if out.is_dir() else []


def _dataset_images(out: Path) -> list:
    return sorted(p.name for p in out.glob("*/img*.png")) if out.is_dir() else []


BATCHES = [
    Batch("quantize", lambda i, s, o: ["quantize", s, "-k", "3", "-o", o], _pngs),
    Batch("superpixels", lambda i, s, o: ["superpixels", s, "-n", "10", "-o", o], _pngs),
    Batch("enhance", lambda i, s, o: ["enhance", s, "--gamma", "0.8", "-o", o], _pngs),
    Batch("style", lambda i, s, o: ["style", s, "--style", i.style, "-o", o, *STYLE_FAST], _pngs),
    Batch("dataset-build", lambda i, s, o: ["dataset", "build", s, "-o", o, "--size", "16", "--min-size", "0"],
          _dataset_images),
    Batch("dataset-pairs", lambda i, s, o: ["dataset", "pairs", s, "-o", o, "--size", "16"],
          lambda o: _pngs(o / "train")),
    Batch("pix2pix-apply", lambda i, s, o: ["pix2pix", "apply", i.p2p, s, "-o", o, *CPU], _pngs),
]
BAD_FILES = {"broken.png": b"\x89PNG\r\n\x1a\n not really", "empty.jpg": b""}
REASONS = ("truncated", "corrupt", "not-an-image", "empty")


def _folder(root: Path, good: int) -> Path:
    from neuralbrush.datasets.samples import write_blooms

    src = root / "src"
    if good:
        write_blooms(src, good, 32, seed=7)
    src.mkdir(exist_ok=True)
    for name, data in BAD_FILES.items():
        (src / name).write_bytes(data)
    return src


@pytest.mark.parametrize("batch", BATCHES, ids=lambda b: b.name)
def test_folder_batch_paints_the_good_and_lists_the_bad(batch, inp, tmp_path):
    src, out = _folder(tmp_path, good=2), tmp_path / "out"
    outcome = run_cli(batch.argv(inp, src, out), watch=tmp_path)
    assert_ok(outcome)
    assert len(batch.painted(out)) == 2, outcome.describe()
    listed = outcome.err + outcome.out
    for name in BAD_FILES:
        assert any(name in ln and any(r in ln for r in REASONS) for ln in listed.splitlines()), \
            f"{name} is not listed with its reason:\n" + outcome.describe()


@pytest.mark.parametrize("batch", BATCHES, ids=lambda b: b.name)
def test_folder_batch_of_only_bad_files_fails_and_writes_nothing(batch, inp, tmp_path):
    src, out = _folder(tmp_path, good=0), tmp_path / "out"
    outcome = run_cli(batch.argv(inp, src, out), watch=tmp_path)
    assert_refused(outcome)
    assert any(name in outcome.err for name in BAD_FILES), outcome.describe()


def test_a_pipe_or_device_is_never_replaced(inp, in_tmp):
    """As root, renaming over /dev/null would swap the device for a file: outputs that exist and
    are not regular files are refused, by the command and by the atomic writers themselves."""
    import stat

    from neuralbrush.core.checkpoint import write_json
    from neuralbrush.core.media import write_video

    pipe = in_tmp / "pipe.png"
    os.mkfifo(pipe)
    assert_refused(run_cli(["quantize", inp.photo, "-k", "4", "-o", pipe], watch=in_tmp),
                   match=[str(pipe), "not a regular file"])
    with pytest.raises(OSError, match="not a regular file"):
        write_json(pipe, {"a": 1})
    gif = in_tmp / "pipe.gif"
    os.mkfifo(gif)
    with pytest.raises(OSError, match="not a regular file"):
        write_video([np.zeros((8, 8, 3), np.uint8)], gif, fps=2)
    assert stat.S_ISFIFO(os.stat(pipe).st_mode) and stat.S_ISFIFO(os.stat(gif).st_mode)
    assert sorted(p.name for p in in_tmp.iterdir()) == ["pipe.gif", "pipe.png"]


# ------------------------------------------------------------------------ failing on inputs

def _bad_inputs(root: Path) -> SimpleNamespace:
    bad = root / "bad"
    bad.mkdir(exist_ok=True)
    (bad / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(40))
    (bad / "clip.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 not a video")
    (bad / "options.json").write_text("{not json")
    return SimpleNamespace(photo=bad / "broken.png", video=bad / "clip.mp4", config=bad / "options.json")


INPUT_FAILURES = {
    "quantize-broken-image": lambda i, b, o: ["quantize", b.photo, "-o", o / "q.png"],
    "enhance-broken-video": lambda i, b, o: ["enhance", b.video, "--gamma", "0.8", "-o", o / "e.mp4"],
    "superpixels-bad-config": lambda i, b, o: ["superpixels", i.photo, "--config", b.config, "-o", o / "s.png"],
    "style-broken-photo": lambda i, b, o: ["style", b.photo, "--style", i.style, "-o", o / "s.png", *STYLE_FAST],
    "style-broken-style": lambda i, b, o: ["style", i.photo, "--style", b.photo, "-o", o / "s.png", *STYLE_FAST],
    "style-video-broken-video": lambda i, b, o: ["style-video", b.video, "--style", i.style, "-o", o / "v.gif",
                                                 *STYLE_FAST],
    "dataset-build-missing-source": lambda i, b, o: ["dataset", "build", o / "missing", "-o", o / "ds",
                                                     "--min-size", "0"],
    "dataset-pairs-broken-photo": lambda i, b, o: ["dataset", "pairs", b.photo, "-o", o / "pairs"],
    "demo-unknown-stage": lambda i, b, o: ["demo", "-o", o / "demo", "--stage", "everything"],
}


@pytest.mark.parametrize("name", list(INPUT_FAILURES))
def test_a_command_failing_on_its_inputs_creates_nothing(name, inp, tmp_path):
    bad = _bad_inputs(tmp_path)
    out = tmp_path / "out" / "nested"  # folders that a careless command would create first
    assert_refused(run_cli(INPUT_FAILURES[name](inp, bad, out), watch=tmp_path))
