"""The storyboard file: its YAML keys, defaults and limits, parsed into a :class:`Storyboard`.

Everything a storyboard can get wrong is refused here with the file and field named, before a
model loads; :mod:`neuralbrush.latent.storyboard` turns a parsed storyboard into a film (split
from it to keep both near 200-400 lines; its names are re-exported there).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core import checks
from ..core.errors import UsageError
from .options import (MAX_BATCH, MAX_FPS, MAX_FRAMES, MAX_PROJECT_STEPS, MAX_SEED, MAX_SPREAD, NOISE_MODES,
                      PROJECT_LOSSES, PROJECT_SPACES, SPACES)
from .walk import EASINGS

LOOP_DEFAULTS = {"stops": 7, "frames_per_stop": 30, "sigma": 0.3, "easing": "linear", "kind": "linear"}
TRANSITION_DEFAULTS = {"frames": 150, "easing": "ease-in-out", "kind": "slerp"}
PROJECT_DEFAULTS = {"steps": 300, "loss": "mse", "space": "w+"}
TOP_KEYS = {"model", "fps", "space", "trunc", "seed", "batch", "noise_mode", "project", "loop", "transition",
            "close", "keyframes"}
KEYFRAME_KEYS = {"seed", "image", "latent", "loop", "transition", "index", "name", "edit"}


@dataclass
class Keyframe:
    kind: str  # seed | image | latent
    value: Any  # int seed or Path
    loop: dict | None
    transition: dict
    index: int = 0  # row of a latent file holding several
    name: str = ""
    edits: tuple[str, ...] = ()  # --edit texts; their files are relative to the storyboard


@dataclass
class Storyboard:
    keyframes: list[Keyframe]
    model: str | None = None
    fps: float = 30.0
    space: str | None = None  # None: w for StyleGAN2, z for a DCGAN
    trunc: float = 1.0
    seed: int = 0
    batch: int = 8
    noise_mode: str = "const"
    close: bool = True
    project: dict = field(default_factory=lambda: dict(PROJECT_DEFAULTS))
    base: Path = Path(".")


def _merge(defaults: dict, given: Any, what: str) -> dict:
    """``defaults`` updated with the ``given`` mapping, every value checked; ``what`` names the
    place in the file (``storyboard film.yaml: keyframe 2 transition``)."""
    if given is None:
        given = {}
    if not isinstance(given, dict):
        raise UsageError(f"{what} must be a mapping like {{frames: 150}}, not {given!r:.40}")
    unknown = set(map(str, given)) - set(defaults)
    if unknown:
        raise UsageError(f"{what}: unknown option(s) {', '.join(sorted(unknown))}; known: {', '.join(defaults)}")
    out = {**defaults, **given}
    limits = {"stops": (2, MAX_FRAMES), "frames_per_stop": (1, MAX_FRAMES), "frames": (1, MAX_FRAMES),
              "steps": (1, MAX_PROJECT_STEPS)}
    for k, (lo, hi) in limits.items():
        if k in out:
            checks.whole(f"{what} {k}", out[k], lo=lo, hi=hi)
    if "sigma" in out:
        checks.number(f"{what} sigma", out["sigma"], lo=0, hi=MAX_SPREAD, why="in units of the latent's spread")
    if "easing" in out:
        checks.choice(f"{what} easing", out["easing"], tuple(EASINGS))
    if "kind" in out:
        checks.choice(f"{what} kind", out["kind"], ("linear", "slerp"))
    if "loss" in out:
        checks.choice(f"{what} loss", out["loss"], PROJECT_LOSSES)
    if "space" in out:
        checks.choice(f"{what} space", out["space"], PROJECT_SPACES)
    return out


def film_frames(sb: Storyboard) -> int:
    """The number of frames of the film (the same count :func:`timeline` builds)."""
    n, total = len(sb.keyframes), 0
    for i, kf in enumerate(sb.keyframes):
        parts = 0
        if kf.loop is not None:
            parts += kf.loop["stops"] * kf.loop["frames_per_stop"]
        if i + 1 < n or (sb.close and n > 1):
            parts += kf.transition["frames"]
        elif not parts or kf.loop is None:
            parts += 1
        total += parts
    return total


def parse_storyboard(path: str | Path) -> Storyboard:
    """Read and validate a storyboard YAML file; every mistake is one clear sentence naming the
    file and the field, before any model is loaded or any file written."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise UsageError(f"storyboard {path} does not exist" if not path.exists() else f"storyboard {path} is not a file")
    where = f"storyboard {path.name}"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise UsageError(f"{where} is not UTF-8 text") from None
    except yaml.YAMLError as e:
        raise UsageError(f"{where} is not valid YAML ({(str(e).splitlines() or ['parse error'])[0]})") from None
    except RecursionError:
        raise UsageError(f"{where} is nested too deeply to read") from None
    if not isinstance(data, dict):
        raise UsageError(f"{where} must be a mapping with a 'keyframes' list")
    unknown = set(map(str, data)) - TOP_KEYS
    if unknown:
        raise UsageError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(TOP_KEYS))}")
    kf_data = data.get("keyframes")
    if not isinstance(kf_data, list) or not kf_data:
        raise UsageError(f"{where}: 'keyframes' must be a non-empty list")
    if len(kf_data) > MAX_FRAMES:
        raise UsageError(f"{where}: {len(kf_data)} keyframes; the limit is {MAX_FRAMES} frames per video")
    loop_default = _merge(LOOP_DEFAULTS, data.get("loop"), f"{where}: loop")
    trans_default = _merge(TRANSITION_DEFAULTS, data.get("transition"), f"{where}: transition")
    base = path.parent
    kfs = []
    for i, k in enumerate(kf_data):
        at = f"{where}: keyframe {i + 1}"
        if isinstance(k, int) and not isinstance(k, bool):
            k = {"seed": k}
        if not isinstance(k, dict):
            raise UsageError(f"{at} must be a mapping such as {{seed: 3}}")
        bad = set(map(str, k)) - KEYFRAME_KEYS
        if bad:
            raise UsageError(f"{at} has unknown key(s) {', '.join(sorted(bad))}")
        sources = [s for s in ("seed", "image", "latent") if s in k]
        if len(sources) != 1:
            raise UsageError(f"{at} needs exactly one of seed, image or latent")
        kind = sources[0]
        value: Any = k[kind]
        if kind == "seed":
            value = checks.whole(f"{at} seed", value, lo=0, hi=MAX_SEED)
        else:
            p = Path(checks.text(f"{at} {kind}", value)).expanduser()
            value = p if p.is_absolute() else base / p
            if not value.is_file():
                raise UsageError(f"{at} {kind} file {value} does not exist")
        loop_given = k.get("loop", {})
        if loop_given is False:
            loop = None
        else:
            loop = _merge(loop_default, {} if loop_given in (True, None) else loop_given, f"{at} loop")
        trans = _merge(trans_default, k.get("transition"), f"{at} transition")
        index = checks.whole(f"{at} index", k.get("index", 0), lo=0)
        name = k.get("name", f"{kind} {value}")
        if not isinstance(name, (str, int, float)) or isinstance(name, bool):
            raise UsageError(f"{at} name must be text, not {name!r:.40}")
        kfs.append(Keyframe(kind, value, loop, trans, index, str(name), _keyframe_edits(k.get("edit"), at, base)))
    model = data.get("model")
    if model is not None:
        mp = Path(checks.text(f"{where}: model", model)).expanduser()
        model = str(mp if mp.is_absolute() or not (base / mp).exists() else base / mp)
    space = data.get("space")
    if space is not None:
        space = checks.choice(f"{where}: space", space, SPACES)
    sb = Storyboard(keyframes=kfs, model=model,
                    fps=checks.number(f"{where}: fps", data.get("fps", 30), lo=0, lo_open=True, hi=MAX_FPS),
                    space=space, trunc=checks.number(f"{where}: trunc", data.get("trunc", 1.0)),
                    seed=checks.whole(f"{where}: seed", data.get("seed", 0), lo=0, hi=MAX_SEED),
                    batch=checks.whole(f"{where}: batch", data.get("batch", 8), lo=1, hi=MAX_BATCH),
                    noise_mode=checks.choice(f"{where}: noise_mode", data.get("noise_mode", "const"), NOISE_MODES),
                    close=checks.flag(f"{where}: close", data.get("close", True)),
                    project=_merge(PROJECT_DEFAULTS, data.get("project"), f"{where}: project"), base=base)
    total = film_frames(sb)
    if total > MAX_FRAMES:
        raise UsageError(f"{where}: the film has {total} frames; the limit is {MAX_FRAMES} frames per video")
    return sb


def _keyframe_edits(given: Any, at: str, base: Path) -> tuple[str, ...]:
    """A keyframe's ``edit:`` (one text or a list), each checked and its file found."""
    from .steer_options import parse_edit

    if given is None:
        return ()
    texts = given if isinstance(given, list) else [given]
    for t in texts:
        if not isinstance(t, str):
            raise UsageError(f"{at} edit must be text such as dirs.npz:2:+1.5@0-5, not {t!r:.40}")
        try:
            spec = parse_edit(t)
        except UsageError as e:
            raise UsageError(f"{at} edit: {e}") from None
        if spec.sweep is not None:
            raise UsageError(f"{at} edit {t!r} has a range; a keyframe takes one amount")
        f = Path(spec.file).expanduser()
        if not (f if f.is_absolute() else base / f).is_file():
            raise UsageError(f"{at} edit file {base / f if not f.is_absolute() else f} does not exist")
    return tuple(texts)
