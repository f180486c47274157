"""Interpretable directions in w: GANSpace (PCA of sampled w) and SeFa (closed form).

* ``pca`` (Härkönen et al., GANSpace): map ``samples`` random z through the mapping network
  and take the principal components of w. Components are orthonormal and sorted by the
  variance of w along them (``values``); the spread of w along component k is sqrt(values[k]).
* ``sefa`` (Shen & Zhou, closed-form factorization): no sampling. The style affines of the
  chosen synthesis layers map w to styles, s = A w + b; the directions that move the styles
  most are the eigenvectors of AᵀA, sorted by eigenvalue (``values``). Like the authors'
  StyleGAN2 code, the rows of A (one per style channel) are normalised to unit length first and
  only the modulated 3x3 convolutions count (not the ToRGB layers). To give amounts in standard
  deviations, ``std_samples`` mapped w measure the spread along each eigenvector afterwards.

A directions file (``.npz``) holds the components, their values and spreads, the mean w, the
layers the directions are for, and the identity of the model (a hash of its weights plus its
resolution, w_dim and num_ws): an edit with a file made for another model is refused.

Layer indices are rows of w ([num_ws, w_dim], as ``mix --styles``): 0-17 for a 1024 px model,
inclusive ranges.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..core.device import Runtime
from ..core.errors import UsageError
from ..core.seeds import parse_int_list
from ..core.progress import ProgressEvent, ProgressFn, presenting
from .latents import class_labels, has_w, map_z
from .steer_options import DirectionsOptions

FORMAT = "neuralbrush.directions"


def _report(progress: ProgressFn | None, task: str, step: int, total: int, message: str = "", preview=None) -> None:
    """One :class:`ProgressEvent` (``task``: sampling, measuring, factorising, rendering), if anyone listens."""
    if progress is not None:
        progress(ProgressEvent(step, total, message, task=task, preview=preview))


@dataclass(frozen=True)
class ModelIdentity:
    """What a directions file was computed on: a hash of the weights and the w layout."""

    digest: str
    resolution: int
    w_dim: int
    num_ws: int

    def __str__(self) -> str:
        return f"{self.resolution} px, w {self.w_dim} x {self.num_ws}, weights {self.digest[:12]}"


def model_identity(G: torch.nn.Module) -> ModelIdentity:
    """sha256 over every tensor of ``G`` (name, shape, fp32 bytes) plus resolution, w_dim, num_ws.

    The same weights give the same identity however they were loaded (our snapshot or an
    NVIDIA .pkl), on whatever device or memory format.
    """
    if not has_w(G):
        raise UsageError("directions live in w, and this generator has no w space (DCGAN or lite)")
    h = hashlib.sha256()
    for name, t in sorted(G.state_dict().items()):
        h.update(name.encode())
        h.update(repr(tuple(t.shape)).encode())
        h.update(t.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    ident = (int(G.img_resolution), int(G.w_dim), int(G.num_ws))
    h.update(repr(ident).encode())
    return ModelIdentity(h.hexdigest(), *ident)


def resolve_layers(G: torch.nn.Module, text: str | None, what: str = "--layers") -> tuple[int, ...]:
    """Layer indices (rows of w): None -> all; '0-5,8' -> (0, ..., 5, 8), checked against num_ws."""
    if text is None or str(text).strip().lower() in ("", "all"):
        return tuple(range(int(G.num_ws)))
    layers = sorted(set(parse_int_list(text, what=f"{what} layers")))
    bad = [i for i in layers if not 0 <= i < G.num_ws]
    if bad:
        raise UsageError(f"{what} layers {bad} are out of range: this model has layers 0-{G.num_ws - 1}")
    return tuple(layers)


def conv_affines(G: torch.nn.Module) -> list[tuple[int, str, torch.nn.Module]]:
    """(w row, name, style affine) of every modulated 3x3 convolution, in synthesis order."""
    syn = G.synthesis
    out, idx = [], 0
    for res in syn.block_resolutions:
        block = getattr(syn, f"b{res}")
        names = (["conv0"] if block.in_channels != 0 else []) + ["conv1"]
        for j, name in enumerate(names):
            out.append((idx + j, f"b{res}.{name}", getattr(block, name).affine))
        idx += block.num_conv
    return out


@dataclass
class Directions:
    """Directions in w with their spreads: what ``neuralbrush directions`` writes."""

    method: str
    components: np.ndarray  # [K, w_dim] float32, orthonormal rows
    values: np.ndarray  # [K] PCA: variance of w along each; SeFa: eigenvalue of AᵀA
    std: np.ndarray  # [K] standard deviation of w along each (the unit of edit amounts)
    mean_w: np.ndarray  # [w_dim]
    total_variance: float  # trace of the covariance of the sampled w
    layers: tuple[int, ...]
    model: ModelIdentity
    samples: int  # w sampled (PCA: for the components; SeFa: for the spreads only)
    seed: int = 0
    path: Path | None = field(default=None, compare=False)

    @property
    def explained(self) -> np.ndarray:
        """Share of w's total variance along each component (PCA's explained variance ratio)."""
        return (self.std.astype(np.float64) ** 2) / max(self.total_variance, 1e-30)

    @property
    def digest(self) -> str:
        """Identifies the directions themselves (edits from equal files combine)."""
        h = hashlib.sha256(self.model.digest.encode())
        h.update(self.method.encode())
        h.update(np.ascontiguousarray(self.components, dtype=np.float32).tobytes())
        h.update(np.ascontiguousarray(self.std, dtype=np.float64).tobytes())
        return h.hexdigest()

    def name(self) -> str:
        return self.path.name if self.path is not None else f"{self.method} directions"

    def check_model(self, G_or_identity) -> None:
        """Refuse (one sentence) when these directions were computed on another model."""
        ident = G_or_identity if isinstance(G_or_identity, ModelIdentity) else model_identity(G_or_identity)
        if ident != self.model:
            raise UsageError(f"{self.name()} was computed for another model ({self.model}), not this one ({ident}); "
                             f"run neuralbrush directions on this model")

    def offset(self, component: int, layers: tuple[int, ...] | None = None) -> torch.Tensor:
        """One standard deviation along ``component`` on ``layers`` (default: the file's), as a
        float64 [num_ws, w_dim] offset to add to w."""
        if not 0 <= component < len(self.components):
            raise UsageError(f"{self.name()} has components 0-{len(self.components) - 1}, not {component}")
        out = torch.zeros(self.model.num_ws, self.model.w_dim, dtype=torch.float64)
        vec = torch.from_numpy(self.components[component].astype(np.float64)) * float(self.std[component])
        out[list(self.layers if layers is None else layers)] = vec
        return out

    def save(self, path: str | Path) -> Path:
        from ..core.checkpoint import atomic_path

        arrays = {"format": np.asarray(FORMAT), "method": np.asarray(self.method),
                  "components": self.components.astype(np.float32), "values": self.values.astype(np.float64),
                  "std": self.std.astype(np.float64), "mean_w": self.mean_w.astype(np.float32),
                  "total_variance": np.asarray(self.total_variance, np.float64),
                  "layers": np.asarray(self.layers, np.int64), "model_digest": np.asarray(self.model.digest),
                  "resolution": np.asarray(self.model.resolution), "w_dim": np.asarray(self.model.w_dim),
                  "num_ws": np.asarray(self.model.num_ws), "samples": np.asarray(self.samples),
                  "seed": np.asarray(self.seed)}
        path = Path(path)
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, **arrays)
        self.path = path
        return path

    @classmethod
    def load(cls, path: str | Path) -> "Directions":
        path = Path(path)
        if not path.is_file():
            raise UsageError(f"directions file {path} does not exist (make one with neuralbrush directions)")
        try:
            with np.load(path, allow_pickle=False) as data:
                d = {k: data[k] for k in data.files}
        except (OSError, ValueError, EOFError) as e:
            raise UsageError(f"{path.name} is not a directions .npz file ({str(e).splitlines()[0][:80]})") from None
        if str(d.get("format", "")) != FORMAT:
            raise UsageError(f"{path.name} is not a directions file (make one with neuralbrush directions)")
        try:
            comps = np.asarray(d["components"], np.float32)
            K, w_dim = comps.shape
            model = ModelIdentity(str(d["model_digest"]), int(d["resolution"]), int(d["w_dim"]), int(d["num_ws"]))
            out = cls(method=str(d["method"]), components=comps, values=np.asarray(d["values"], np.float64),
                      std=np.asarray(d["std"], np.float64), mean_w=np.asarray(d["mean_w"], np.float32),
                      total_variance=float(d["total_variance"]), layers=tuple(int(i) for i in d["layers"]),
                      model=model, samples=int(d["samples"]), seed=int(d["seed"]), path=path)
        except (KeyError, ValueError, TypeError):
            raise UsageError(f"{path.name} is a damaged directions file (missing or malformed arrays)") from None
        if (w_dim != model.w_dim or out.values.shape != (K,) or out.std.shape != (K,)
                or not np.all(np.isfinite(comps)) or not np.all(np.isfinite(out.std))
                or any(not 0 <= i < model.num_ws for i in out.layers)):
            raise UsageError(f"{path.name} is a damaged directions file (inconsistent shapes or values)")
        return out


# ---------------------------------------------------------------------------------------------
# Sampling w and the two methods.

@torch.no_grad()
def w_moments(G: torch.nn.Module, samples: int, *, seed: int = 0, batch: int = 2048, class_idx: int | None = None,
              progress: ProgressFn | None = None, stage: str = "sampling") -> tuple[torch.Tensor, torch.Tensor]:
    """Mean [w_dim] and covariance [w_dim, w_dim] (float64) of w over ``samples`` random z.

    z come from ``np.random.RandomState(seed)`` in batches through the mapping network (fp32, as
    the precision policy keeps the mapping network); each batch is centred on the first batch's
    mean before its products are summed in float64, so the covariance does not lose digits.
    """
    rng = np.random.RandomState(seed)
    shift = None
    s1 = torch.zeros(G.w_dim, dtype=torch.float64)
    s2 = torch.zeros(G.w_dim, G.w_dim, dtype=torch.float64)
    total = -(-samples // batch)
    for i, start in enumerate(range(0, samples, batch)):
        n = min(batch, samples - start)
        z = torch.from_numpy(rng.standard_normal((n, G.z_dim)).astype(np.float32))
        w = map_z(G, z, class_idx=class_idx)[:, 0].float().cpu()
        if shift is None:
            shift = w.mean(0)
        x = w - shift
        s1 += x.sum(0, dtype=torch.float64)
        s2 += (x.T @ x).double()
        _report(progress, stage, i + 1, total, f"{start + n} w")
    m = s1 / samples
    cov = (s2 - samples * torch.outer(m, m)) / max(samples - 1, 1)
    return shift.double() + m, cov


def _sorted_eigh(mat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigenvalues (descending) and eigenvectors as rows, each signed so that its largest
    coordinate is positive (the decomposition fixes a direction only up to sign)."""
    vals, vecs = torch.linalg.eigh((mat + mat.T) / 2)
    order = torch.argsort(vals, descending=True)
    vals, rows = vals[order], vecs[:, order].T.contiguous()
    lead = rows.abs().argmax(dim=1)
    signs = torch.sign(rows[torch.arange(len(rows)), lead])
    return vals, rows * signs[:, None]


def pca_directions(G: torch.nn.Module, *, samples: int = 100_000, seed: int = 0, batch: int = 2048,
                   class_idx: int | None = None, progress: ProgressFn | None = None):
    """GANSpace: (components [d, d], variances [d], mean [d], total variance), sorted by variance."""
    mean, cov = w_moments(G, samples, seed=seed, batch=batch, class_idx=class_idx, progress=progress)
    _report(progress, "factorising", 0, 1, "eigen-decomposition of the covariance")
    vals, rows = _sorted_eigh(cov)
    return rows, vals.clamp_min(0), mean, float(torch.trace(cov))


def sefa_matrix(G: torch.nn.Module, layers: tuple[int, ...]) -> torch.Tensor:
    """The stacked style weights A [channels, w_dim] of the chosen layers' 3x3 convolutions
    (equalised-lr gain applied, each row normalised to unit length), float64."""
    rows = [aff.weight.detach().to("cpu", torch.float64) * float(aff.weight_gain)
            for idx, _, aff in conv_affines(G) if idx in layers]
    if not rows:
        raise UsageError(f"layers {list(layers)} hold no modulated convolution (only a ToRGB layer); "
                         f"choose layers 0-{G.num_ws - 2}")
    A = torch.cat(rows)
    return A / A.norm(dim=1, keepdim=True).clamp_min(1e-12)


def sefa_directions(G: torch.nn.Module, layers: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """SeFa: eigenvectors of AᵀA as rows (descending eigenvalue) and the eigenvalues."""
    A = sefa_matrix(G, layers)
    vals, rows = _sorted_eigh(A.T @ A)
    return rows, vals.clamp_min(0)


def compute_directions(G: torch.nn.Module, opts: DirectionsOptions, *,
                       progress: ProgressFn | None = None) -> Directions:
    """Compute GANSpace or SeFa directions for ``G`` (validated before any work); ``progress``
    gets :class:`ProgressEvent` s (None: the default bars)."""
    with presenting(progress, "directions") as report:
        return _compute_directions(G, opts, report)


def _compute_directions(G: torch.nn.Module, opts: DirectionsOptions, progress: ProgressFn) -> Directions:
    opts.validate()
    ident = model_identity(G)
    layers = resolve_layers(G, opts.layers)
    class_labels(G, opts.class_idx, 1)
    if opts.method == "pca":
        rows, vals, mean, total = pca_directions(G, samples=opts.samples, seed=opts.seed, batch=opts.batch,
                                                 class_idx=opts.class_idx, progress=progress)
        std, samples = vals.sqrt(), opts.samples
    else:
        _report(progress, "factorising", 0, 1, "eigen-decomposition of the style weights")
        rows, vals = sefa_directions(G, layers)
        mean, cov = w_moments(G, opts.std_samples, seed=opts.seed, batch=opts.batch, class_idx=opts.class_idx,
                              progress=progress, stage="measuring")
        std = torch.einsum("kd,de,ke->k", rows, cov, rows).clamp_min(0).sqrt()
        total, samples = float(torch.trace(cov)), opts.std_samples
    _report(progress, "factorising", 1, 1, "done")
    return Directions(method=opts.method, components=rows.float().numpy(), values=vals.numpy(), std=std.numpy(),
                      mean_w=mean.float().numpy(), total_variance=total, layers=layers, model=ident,
                      samples=samples, seed=opts.seed)


# ---------------------------------------------------------------------------------------------
# The direction sheet and the command.

def direction_sheet(G: torch.nn.Module, dirs: Directions, runtime: Runtime, *, components: int = 6, seeds=(0, 1, 2),
                    amounts=(-3, -2, -1, 0, 1, 2, 3), psi: float = 1.0, noise_mode: str = "const",
                    class_idx: int | None = None, batch: int = 8, progress: ProgressFn | None = None):
    """Rows: the top ``components``; columns: ``amounts`` standard deviations, for each seed.

    Returns a PIL image (labels: the amount over each column of the first row, the component
    at the start of every row and seed block). ``progress`` gets one event per row, its
    rendered row as the preview (None: the default bar)."""
    with presenting(progress, "direction sheet") as report:
        return _direction_sheet(G, dirs, runtime, components, seeds, amounts, psi, noise_mode, class_idx, batch,
                                report)


def _direction_sheet(G, dirs, runtime: Runtime, components, seeds, amounts, psi, noise_mode, class_idx, batch, progress):
    from ..core.media import make_grid
    from .latents import latents_from_seeds
    from .render import Renderer, for_display, grid_cell_side, shrink

    components = min(int(components), len(dirs.components))
    seeds, amounts = list(seeds), [float(a) for a in amounts]
    base = latents_from_seeds(G, seeds, psi=psi, class_idx=class_idx).w.double()  # [S, num_ws, w_dim]
    r = Renderer(G, runtime, noise_mode=noise_mode, class_idx=class_idx, batch=batch)
    a = torch.tensor(amounts, dtype=torch.float64).view(1, -1, 1, 1)
    side = grid_cell_side(components * len(seeds) * len(amounts), int(G.img_resolution))
    cells, labels = [], []
    for k in range(components):
        ws = (base[:, None] + a * dirs.offset(k)[None, None]).reshape(-1, G.num_ws, G.w_dim).float()
        frames = r.frames(ws, "w")
        cells.extend(shrink(f, side) for f in frames)
        for s, seed in enumerate(seeds):
            for j, amount in enumerate(amounts):
                parts = ([f"#{k}"] if j == 0 else []) + ([f"seed {seed}"] if j == 0 and k == 0 else [])
                parts += [f"{amount:+g}"] if k == 0 else []
                labels.append(" ".join(parts))
        _report(progress, "rendering", k + 1, components, f"component {k}",
                preview=lambda frames=frames: np.concatenate(list(frames), axis=1))
    grid = (len(seeds) * len(amounts), components)
    return make_grid(for_display(cells), grid, labels=labels, pad=2)


@dataclass
class DirectionsResult:
    directions: Directions
    path: Path  # the .npz
    sheet: Path | None  # the direction sheet PNG beside it
    summary: Path  # the .json beside it: options, identity, top values, timing
    seconds: float  # time to compute the directions (sheet not included)


def write_directions(G: torch.nn.Module, output: str | Path, opts: DirectionsOptions, runtime: Runtime | None = None, *,
                     model: str | None = None, progress: ProgressFn | None = None) -> DirectionsResult:
    """The ``directions`` command: compute, save ``output`` (.npz), its sheet (.png) and summary (.json)."""
    from ..core.checkpoint import write_json
    from ..core.imageio import save_image
    from ..core.seeds import parse_int_list as ints

    runtime = runtime or Runtime.default()
    output = Path(output)
    if output.suffix.lower() != ".npz":
        raise UsageError(f"the directions file must end in .npz, not {output.name}")
    opts.validate()
    if not has_w(G):
        raise UsageError("directions live in w, and this generator has no w space (DCGAN or lite)")
    resolve_layers(G, opts.layers)
    seeds = ints(opts.sheet_seeds, what="sheet seeds") if opts.sheet_components else []
    amounts = opts.amounts() if opts.sheet_components else []
    t0 = time.perf_counter()
    with presenting(progress, "directions") as report:
        dirs = compute_directions(G, opts, progress=report)
        seconds = time.perf_counter() - t0
        dirs.save(output)
        sheet = None
        if opts.sheet_components:
            img = direction_sheet(G, dirs, runtime, components=opts.sheet_components, seeds=seeds, amounts=amounts,
                                  psi=opts.trunc, noise_mode=opts.noise_mode, class_idx=opts.class_idx,
                                  progress=report)
            sheet = save_image(img, output.with_suffix(".png"))
    top = min(10, len(dirs.components))
    summary = write_json(output.with_suffix(".json"), {
        "model": model, **asdict(opts), "identity": asdict(dirs.model), "runtime": runtime.describe(),
        "seconds": seconds, "layers": list(dirs.layers), "components": len(dirs.components),
        "top_values": dirs.values[:top].tolist(), "top_std": dirs.std[:top].tolist(),
        "top_explained": dirs.explained[:top].tolist()})
    return DirectionsResult(dirs, output, sheet, summary, seconds)
