"""The weights store: where pretrained files live, and how they get there.

Files live in ``$NEURALBRUSH_HOME/weights`` (default ``~/.cache/neuralbrush/weights``) under
their catalogue file names. ``fetch`` downloads with a progress bar to a temporary file,
verifies the sha256 (or its published prefix) and renames it into place. Offline, or when a
download fails, the error names the URL and the exact path to put the file at; ``import_file``
copies a file obtained elsewhere into the store after the same verification. Verification reads
the file with the safe reader loading uses and checks it is the architecture its entry names
(:mod:`.checks`), so a malicious or wrong file never enters the store. Nothing here ever falls
back to untrained weights.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

from ..core.checkpoint import atomic_path, write_json
from ..core.errors import UsageError, WeightsMissingError
from ..core.progress import ProgressFn

NV = "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained"
NV_TL = f"{NV}/transfer-learning-source-nets"
NV_LICENCE = "NVIDIA Source Code License-NC (non-commercial research use)"
P2P = "http://efrosgans.eecs.berkeley.edu/pix2pix/models-pytorch"


@dataclass(frozen=True)
class WeightsEntry:
    name: str
    kind: str  # vgg19 | vgg16 | lpips | stylegan2-pkl | pix2pix-g | inception | gan-snapshot | pix2pix-snapshot
    url: str
    filename: str
    licence: str
    size_mb: float | None = None
    sha256: str | None = None  # full hex digest, or a published prefix (torchvision's 8 hex digits)
    description: str = ""
    resolution: int | None = None
    bundled: bool = False  # shipped inside the package (weights/bundled/): always present, never downloaded


# The demo models: trained by this project on its own procedural species blooms (64 px), generator
# only, stored in float16. Each file has a ``.json`` record beside it: the exact commands and run
# record that made it, and what it scored (neuralbrush.weights.export writes both).
BUNDLED_DIR = Path(__file__).resolve().parent / "bundled"
_OWN = "MIT (neuralbrush; trained on its own procedural data)"
BUNDLED = [
    WeightsEntry("blooms64-stylegan2", "gan-snapshot", "", "blooms64-stylegan2.safetensors", _OWN, None, None,
                 "StyleGAN2-ADA `small` preset trained on 64 px species blooms (demo model)", 64, True),
    WeightsEntry("blooms64-lite", "gan-snapshot", "", "blooms64-lite.safetensors", _OWN, None, None,
                 "lite (FastGAN-like) trained on 64 px species blooms (demo model)", 64, True),
    WeightsEntry("blooms64-pix2pix-edges", "pix2pix-snapshot", "", "blooms64-pix2pix-edges.safetensors", _OWN, None,
                 None, "pix2pix U-Net: edges -> species blooms at 64 px (demo model)", 64, True),
]


def _nv(name: str, file: str, res: int, size: float, desc: str, tl: bool = False) -> WeightsEntry:
    return WeightsEntry(name, "stylegan2-pkl", f"{NV_TL if tl else NV}/{file}", file, NV_LICENCE, size, None, desc, res)


def _p2p(name: str, desc: str) -> WeightsEntry:
    return WeightsEntry(f"pix2pix-{name.replace('_', '-')}", "pix2pix-g", f"{P2P}/{name}.pth", f"pix2pix_{name}.pth",
                        "BSD-2-Clause (junyanz/pytorch-CycleGAN-and-pix2pix)", 217.7, None,
                        f"pix2pix U-Net-256 generator: {desc}", 256)


_ENTRIES = [
    WeightsEntry("vgg19", "vgg19", "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth", "vgg19-dcbb9e9d.pth",
                 "BSD-3-Clause (torchvision); trained on ImageNet", 548.1, "dcbb9e9d",
                 "torchvision VGG-19 IMAGENET1K_V1: the style-transfer feature network"),
    WeightsEntry("vgg16", "vgg16", "https://download.pytorch.org/models/vgg16-397923af.pth", "vgg16-397923af.pth",
                 "BSD-3-Clause (torchvision); trained on ImageNet", 527.8, "397923af",
                 "torchvision VGG-16 IMAGENET1K_V1: the backbone LPIPS uses"),
    WeightsEntry("lpips-vgg", "lpips", "https://github.com/richzhang/PerceptualSimilarity/raw/master/lpips/weights/v0.1/vgg.pth",
                 "lpips-vgg-v0.1.pth", "BSD-2-Clause (richzhang/PerceptualSimilarity)", 0.007, None,
                 "LPIPS v0.1 linear calibration layers on top of VGG-16 (needs vgg16 too)"),
    WeightsEntry("inception-fid", "inception",
                 "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth",
                 "pt_inception-2015-12-05-6726825d.pth", "Apache-2.0 (mseitzer/pytorch-fid); TF Inception port", 95.6,
                 "6726825d", "Inception-v3 weights of the FID reference implementation"),
    _nv("ffhq", "ffhq.pkl", 1024, 363.9, "StyleGAN2-ADA FFHQ faces 1024px"),
    _nv("metfaces", "metfaces.pkl", 1024, 363.9, "StyleGAN2-ADA MetFaces (portrait art) 1024px"),
    _nv("afhqcat", "afhqcat.pkl", 512, 348.0, "StyleGAN2-ADA AFHQ cats 512px"),
    _nv("afhqdog", "afhqdog.pkl", 512, 348.0, "StyleGAN2-ADA AFHQ dogs 512px"),
    _nv("afhqwild", "afhqwild.pkl", 512, 348.0, "StyleGAN2-ADA AFHQ wild animals 512px"),
    _nv("brecahad", "brecahad.pkl", 512, 348.0, "StyleGAN2-ADA BreCaHAD histology 512px"),
    _nv("cifar10", "cifar10.pkl", 32, 257.0, "StyleGAN2-ADA CIFAR-10 32px, conditional"),
    _nv("ffhq256", "ffhq-res256-mirror-paper256-noaug.pkl", 256, 280.0, "transfer source: FFHQ 256px (paper256)", True),
    _nv("ffhq512", "ffhq-res512-mirror-stylegan2-noaug.pkl", 512, 363.0, "transfer source: FFHQ 512px", True),
    _nv("ffhq1024", "ffhq-res1024-mirror-stylegan2-noaug.pkl", 1024, 363.9, "transfer source: FFHQ 1024px", True),
    _nv("celebahq256", "celebahq-res256-mirror-paper256-kimg100000-ada-target0.5.pkl", 256, 280.0,
        "transfer source: CelebA-HQ 256px", True),
    _nv("lsundog256", "lsundog-res256-paper256-kimg100000-noaug.pkl", 256, 280.0, "transfer source: LSUN dog 256px", True),
    _p2p("edges2shoes", "edges to shoes"),
    _p2p("sat2map", "satellite photo to map"),
    _p2p("map2sat", "map to satellite photo"),
    _p2p("facades_label2photo", "facade labels to photo"),
    _p2p("day2night", "day to night"),
    *BUNDLED,
]

CATALOGUE: dict[str, WeightsEntry] = {e.name: e for e in _ENTRIES}

# Each catalogue kind in words, for sentences that list the names of one kind ("GAN weights names: ...").
KIND_WORDS: dict[str, str] = {"stylegan2-pkl": "GAN", "gan-snapshot": "GAN", "pix2pix-g": "pix2pix",
                              "pix2pix-snapshot": "pix2pix", "vgg19": "VGG-19", "vgg16": "VGG-16",
                              "lpips": "LPIPS", "inception": "Inception"}


def names_of_kind(*kinds: str) -> list[str]:
    """Catalogue names whose kind is one of ``kinds``, in catalogue order."""
    return [n for n, e in CATALOGUE.items() if e.kind in kinds]


def store_dir() -> Path:
    """The folder holding the weight files (created on demand)."""
    home = os.environ.get("NEURALBRUSH_HOME")
    base = Path(home) if home else Path.home() / ".cache" / "neuralbrush"
    return base / "weights"


def list_entries() -> list[WeightsEntry]:
    return list(CATALOGUE.values())


def entry(name: str) -> WeightsEntry:
    try:
        return CATALOGUE[name]
    except KeyError:
        close = [n for n in CATALOGUE if name.lower() in n]
        hint = f" (did you mean {', '.join(close)}?)" if close else f"; known: {', '.join(CATALOGUE)}"
        raise UsageError(f"no weights named {name!r} in the catalogue{hint}") from None


def path_for(name: str) -> Path:
    """Where the file for ``name`` lives (whether or not it is there yet); bundled models live in the package."""
    e = entry(name)
    return (BUNDLED_DIR if e.bundled else store_dir()) / e.filename


def bundled_record(name: str) -> dict:
    """The record beside a bundled model (commands, run record, scores); {} when there is none."""
    import json

    p = path_for(name)
    rec = p.with_name(p.name + ".json")
    return json.loads(rec.read_text(encoding="utf-8")) if rec.is_file() else {}


def find(name: str) -> Path | None:
    """The stored file for ``name``, or None when it is not in the store."""
    p = path_for(name)
    return p if p.is_file() else None


def _missing_message(e: WeightsEntry, why: str = "") -> str:
    dest = store_dir() / e.filename
    if e.bundled:
        return (f"the bundled model {e.name!r} is missing from the installed package ({path_for(e.name)}); "
                f"reinstall neuralbrush")
    return (f"weights {e.name!r} are not in the store{why}: download {e.url} and put it at {dest} "
            f"(or run: neuralbrush weights import {e.name} FILE)")


def require(name: str) -> Path:
    """The stored file for ``name``; raises :class:`WeightsMissingError` with directions if absent."""
    e = entry(name)
    p = find(name)
    if p is None:
        raise WeightsMissingError(_missing_message(e))
    return p


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(chunk)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def verify(name: str, path: str | os.PathLike | None = None) -> str:
    """Check a file against its catalogue entry; returns the sha256 digest.

    The file is read with the same safe reader loading uses and compared with the architecture
    the entry names (:mod:`.checks`), then its sha256 against the catalogue's digest or prefix.
    Nothing in the file runs; a file that is something else is refused saying what it is."""
    from .checks import check_weights_file

    e = entry(name)
    p = Path(path) if path is not None else require(name)
    check_weights_file(e, p)
    digest = sha256_file(p)
    if e.sha256 and not digest.startswith(e.sha256):
        raise WeightsMissingError(f"{p} does not match the catalogue entry {name!r}: sha256 {digest[:12]}... "
                                  f"expected {e.sha256[:12]}...; it is a different or damaged file")
    return digest


def _record(e: WeightsEntry, dest: Path, digest: str, source: str) -> None:
    write_json(dest.with_name(dest.name + ".json"), {**asdict(e), "sha256_actual": digest, "source": source})


def fetch(name: str, *, force: bool = False, timeout: float = 30.0, progress: ProgressFn | None = None) -> Path:
    """Download ``name`` into the store (verification, atomic rename); ``progress`` gets an event
    per MiB downloaded, ``step``/``total`` in bytes (None: a bar)."""
    from ..core.progress import ProgressEvent, presenting

    e = entry(name)
    if e.bundled:  # nothing to download: it ships with the package
        return require(name)
    dest = store_dir() / e.filename
    if dest.is_file() and not force:
        return dest
    try:
        with urllib.request.urlopen(e.url, timeout=timeout) as resp, atomic_path(dest) as tmp:
            total = int(resp.headers.get("Content-Length") or 0) or None
            with open(tmp, "wb") as out, presenting(progress, f"fetch {name}") as report:
                done = 0
                while True:
                    buf = resp.read(1 << 20)
                    if not buf:
                        break
                    out.write(buf)
                    done += len(buf)
                    report(ProgressEvent(done, total, task="fetch"))
            digest = verify(name, tmp)
    except (urllib.error.URLError, OSError, TimeoutError) as err:
        reason = getattr(err, "reason", err)
        raise WeightsMissingError(_missing_message(e, f" and could not be downloaded ({reason})")) from None
    _record(e, dest, digest, e.url)
    return dest


def import_file(name: str, file: str | os.PathLike) -> Path:
    """Copy a file the user obtained elsewhere into the store, verifying it first."""
    e = entry(name)
    if e.bundled:
        raise UsageError(f"{name!r} is a model bundled with neuralbrush; it cannot be replaced by an import")
    src = Path(file)
    if not src.exists():
        raise UsageError(f"{src} does not exist")
    if not src.is_file():
        raise UsageError(f"{src} is not a file")
    digest = verify(name, src)  # before anything is written: a refused file leaves the store as it was
    dest = store_dir() / e.filename
    with atomic_path(dest) as tmp:
        shutil.copyfile(src, tmp)
    _record(e, dest, digest, str(src.resolve()))
    return dest
