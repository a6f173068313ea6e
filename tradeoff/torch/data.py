"""Datasets for the papers' experiments: IDX files (MNIST, Fashion-MNIST) and sklearn digits.

Everything is loaded into memory as float32 tensors of shape ``(n, 1, h, w)`` with pixels
in a stated range (default ``[0, 1]``; Kim et al. use ``[-1, 1]``), so that an attack's
ε is measured in the same units as the stored pixels: ε = 0.3 in ``[0, 1]`` units is
ε = 0.6 in ``[-1, 1]`` units. Labels are int64 class indices, or float32 ±1 for the
binary subsets (5 vs 7 in Tsipras et al. Table 4, 1 vs 3 in Zhang et al. Table 3), which
pair with a network with a single output (its logit).

Where the data comes from:

``fashion_mnist``
    the Debian package ``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist``),
    or ``root=`` / ``$TRADEOFF_DATA/fashion-mnist``.
``mnist``
    a folder you provide (``root=``, ``tradeoff train --data DIR`` or ``$TRADEOFF_DATA``)
    holding the four IDX files, ``.gz`` or not, directly, in ``mnist/``, or in the
    ``MNIST/raw/`` layout torchvision leaves on disk.
``digits``
    scikit-learn's bundled 8×8 digits (1 797 images, pixel values 0–16 scaled to [0, 1]),
    split 75/25 into train/test by a fixed seed (the dataset has no official test set).
"""

from __future__ import annotations

import gzip
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from tradeoff._validate import check_choice, check_int, check_real

__all__ = [
    "DATASETS",
    "FASHION_MNIST_DEBIAN",
    "Data",
    "Split",
    "find_idx_folder",
    "load",
    "read_idx",
]

FASHION_MNIST_DEBIAN = Path("/usr/share/datasets/fashion-mnist")
DATASETS = ("fashion_mnist", "mnist", "digits")

# IDX type codes (http://yann.lecun.com/exdb/mnist/): code → big-endian numpy dtype.
_IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_IDX_NAMES = {
    "train_x": "train-images-idx3-ubyte",
    "train_y": "train-labels-idx1-ubyte",
    "test_x": "t10k-images-idx3-ubyte",
    "test_y": "t10k-labels-idx1-ubyte",
}
_HOW_TO_GET = {
    "fashion_mnist": (
        "install the Debian package (apt-get install dataset-fashion-mnist, files in "
        f"{FASHION_MNIST_DEBIAN}) or put the four Fashion-MNIST IDX files "
        "(train-images-idx3-ubyte.gz, ...) in a folder and pass root= / --data DIR"
    ),
    "mnist": (
        "download the four MNIST IDX files (train-images-idx3-ubyte.gz, "
        "train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz) "
        "into a folder and pass it as root= / tradeoff train --data DIR, or set "
        "TRADEOFF_DATA=DIR (a torchvision download folder with MNIST/raw/ also works)"
    ),
}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file (the MNIST file format), gzip-compressed or raw.

    The header is checked: two zero bytes, a known type code, 1–4 dimensions, and a
    payload of exactly ``prod(dims) · itemsize`` bytes. A truncated, padded, corrupt or
    foreign file raises ``ValueError`` naming the file.

    Returns
    -------
    numpy.ndarray
        Native-endian array of the stored dtype and shape.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"IDX file {path} does not exist")
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as fh:
                raw = fh.read()
        else:
            raw = path.read_bytes()
    except (OSError, EOFError, zlib.error) as exc:
        raise ValueError(f"{path}: not a readable gzip file ({exc})") from exc
    if len(raw) < 4:
        raise ValueError(f"{path}: {len(raw)} bytes, too short for an IDX header")
    if raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES or not 1 <= raw[3] <= 4:
        raise ValueError(
            f"{path}: not an IDX file (magic bytes {raw[:4].hex()}; expected 0000 followed by "
            "a type code in {08,09,0b,0c,0d,0e} and 1-4 dimensions)"
        )
    dtype, ndim = _IDX_DTYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: truncated IDX header ({len(raw)} of {header} bytes)")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = header + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        what = "truncated" if len(raw) < expected else "has trailing bytes"
        raise ValueError(
            f"{path}: IDX file {what}: header says shape {dims} of {dtype.name} "
            f"({expected} bytes in all), file has {len(raw)} bytes"
        )
    arr = np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)
    return arr.astype(dtype.newbyteorder("="))


def _idx_file(folder: Path, stem: str) -> Path | None:
    for name in (
        stem,
        stem + ".gz",
        stem.replace("-idx", ".idx"),
        stem.replace("-idx", ".idx") + ".gz",
    ):
        if (folder / name).is_file():
            return folder / name
    return None


def find_idx_folder(root: str | os.PathLike, name: str = "mnist") -> Path | None:
    """Return the folder under ``root`` holding the four IDX files, or ``None``.

    Looks in ``root``, ``root/<name>``, ``root/<name with - for _>`` and torchvision's
    ``root/MNIST/raw`` (``FashionMNIST/raw`` for Fashion-MNIST).
    """
    root = Path(root)
    tv = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST"}.get(name, name)
    candidates = [
        root,
        root / name,
        root / name.replace("_", "-"),
        root / tv / "raw",
        root / name / tv / "raw",
    ]
    for folder in candidates:
        if folder.is_dir() and all(_idx_file(folder, s) for s in _IDX_NAMES.values()):
            return folder
    return None


@dataclass(frozen=True)
class Split:
    """Images ``x`` (float32, ``(n, c, h, w)``) and labels ``y`` of one split."""

    x: torch.Tensor
    y: torch.Tensor

    def __post_init__(self) -> None:
        if not isinstance(self.x, torch.Tensor) or not isinstance(self.y, torch.Tensor):
            raise TypeError("Split.x and Split.y must be torch tensors")
        if self.x.shape[0] != self.y.shape[0]:
            raise ValueError(
                f"Split.x has {self.x.shape[0]} samples but Split.y has {self.y.shape[0]}"
            )

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def take(self, n: int) -> Split:
        """The first ``n`` samples (splits are already shuffled by :func:`load`)."""
        return Split(self.x[:n], self.y[:n])


@dataclass(frozen=True)
class Data:
    """A dataset ready for training: train / validation / test splits and metadata.

    Attributes
    ----------
    num_classes:
        number of network outputs: the class count, or 1 for a binary subset with ±1
        labels (the network outputs one logit; class +1 when it is positive).
    pixel_range:
        ``(lo, hi)``: the range the pixels were scaled to; attacks must clip to it.
    classes:
        the original class labels kept (for a binary subset ``(pos, neg)``: ``pos`` is +1).
    """

    name: str
    train: Split
    val: Split | None
    test: Split
    num_classes: int
    input_shape: tuple[int, ...]
    pixel_range: tuple[float, float]
    classes: tuple[int, ...]

    @property
    def binary(self) -> bool:
        return self.num_classes == 1

    def describe(self) -> str:
        val = len(self.val) if self.val is not None else 0
        kind = (
            f"binary {self.classes[0]} (+1) vs {self.classes[1]} (-1)"
            if self.binary
            else (f"{self.num_classes} classes")
        )
        return (
            f"{self.name}: {kind}, train {len(self.train)}, val {val}, test {len(self.test)}, "
            f"input {self.input_shape}, "
            f"pixels in [{self.pixel_range[0]:g}, {self.pixel_range[1]:g}]"
        )


def _load_idx_arrays(name: str, root: str | os.PathLike | None):
    """Return (train_x uint8, train_y, test_x, test_y) for an IDX dataset."""
    searched: list[str] = []
    roots: list[Path] = []
    if root is not None:
        roots.append(Path(root))
    else:
        env = os.environ.get("TRADEOFF_DATA")
        if env:
            roots.append(Path(env))
        if name == "fashion_mnist":
            roots.append(FASHION_MNIST_DEBIAN)
    folder = None
    for r in roots:
        searched.append(str(r))
        folder = find_idx_folder(r, name)
        if folder is not None:
            break
    if folder is None:
        where = ", ".join(searched) if searched else "nowhere (no root given, TRADEOFF_DATA unset)"
        raise FileNotFoundError(
            f"dataset {name!r} not found (searched {where}); to get it: {_HOW_TO_GET[name]}"
        )
    arrays = []
    for key, stem in _IDX_NAMES.items():
        arr = read_idx(_idx_file(folder, stem))
        want_ndim = 3 if key.endswith("_x") else 1
        if arr.ndim != want_ndim:
            raise ValueError(
                f"{_idx_file(folder, stem)}: expected {want_ndim} dimension(s), "
                f"got shape {arr.shape}"
            )
        if key.endswith("_x") and arr.size and not (0 <= arr.min() and arr.max() <= 255):
            raise ValueError(
                f"{_idx_file(folder, stem)}: pixel values in [{arr.min()}, {arr.max()}], "
                "expected MNIST-format images in [0, 255]"
            )
        arrays.append(arr)
    tx, ty, sx, sy = arrays
    for x, y, which in ((tx, ty, "train"), (sx, sy, "t10k")):
        if x.shape[0] != y.shape[0]:
            raise ValueError(
                f"{folder}: {which} images ({x.shape[0]}) and labels ({y.shape[0]}) differ in count"
            )
    return tx[:, None], ty.astype(np.int64), sx[:, None], sy.astype(np.int64), 255.0


def _load_digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    x = d.images.astype(np.float64)[:, None]  # (1797, 1, 8, 8), values 0..16
    y = d.target.astype(np.int64)
    perm = np.random.default_rng(20190101).permutation(len(y))  # fixed test split
    n_test = len(y) // 4
    te, tr = perm[:n_test], perm[n_test:]
    return x[tr], y[tr], x[te], y[te], 16.0


def _scale(x: np.ndarray, scale: float, lo: float, hi: float) -> np.ndarray:
    """``lo + (hi − lo)·x/scale`` in float64, clipped to [lo, hi], rounded once to float32.

    Rounding is monotone, so every pixel lies in ``[float32(lo), float32(hi)]``: the range
    the attacks accept for ``clip=(lo, hi)`` (``float32(0.1) > 0.1``). Integer images go
    through a table of their levels (256 for uint8): no float64 copy of the whole set.
    """

    def f(v: np.ndarray) -> np.ndarray:  # the clip only removes float64 rounding (1 ulp)
        return np.clip(lo + (hi - lo) * (v.astype(np.float64) / scale), lo, hi).astype(np.float32)

    if not x.size:
        return x.astype(np.float32)
    first, last = x.min(), x.max()
    if not (0 <= first and last <= scale):  # also catches NaN
        raise ValueError(f"image values must lie in [0, {scale:g}], got [{first}, {last}]")
    if x.dtype.kind in "iu":
        first, last = int(first), int(last)
        if last - first <= 1 << 16:
            table = f(np.arange(first, last + 1))
            return table[x.astype(np.int64) - first if first else x]
    return f(x)


def _parse_pair(binary: object) -> tuple[int, int] | None:
    if binary is None:
        return None
    if not isinstance(binary, (tuple, list)) or len(binary) != 2:
        raise TypeError(f"binary must be a pair of class labels like (5, 7), got {binary!r}")
    a, b = (check_int("binary", c, low=0) for c in binary)
    if a == b:
        raise ValueError(f"binary must name two different classes, got {binary!r}")
    return a, b


def load(
    name: str,
    *,
    root: str | os.PathLike | None = None,
    binary: tuple[int, int] | None = None,
    val_size: int | float = 0,
    subset: int | None = None,
    test_subset: int | None = None,
    pixel_range: tuple[float, float] = (0.0, 1.0),
    seed: int = 0,
) -> Data:
    """Load a dataset by name into memory.

    Parameters
    ----------
    name:
        ``"fashion_mnist"``, ``"mnist"``, ``"digits"``, or a path to a folder of IDX
        files (read as MNIST-format).
    root:
        folder to read IDX files from (see the module docstring for the defaults).
    binary:
        ``(pos, neg)``: keep only these two classes, labelled +1 and −1 (float32), e.g.
        ``(5, 7)`` (Tsipras et al. Table 4) or ``(1, 3)`` (Zhang et al. Table 3).
    val_size:
        validation samples taken from the (shuffled) training set: a count, or a
        fraction in [0, 1).
    subset, test_subset:
        keep at most this many training (after the validation split) / test samples, for
        quick runs; drawn uniformly at random with ``seed`` (all of them when fewer).
    pixel_range:
        ``(lo, hi)`` the pixels are scaled to; ``(0, 1)`` by default, ``(-1, 1)`` for Kim
        et al. Attack budgets ε are in these units.
    seed:
        seeds the train/validation split and the subsets (the digits test split is fixed).
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a dataset name or folder path, got {name!r}")
    lo = check_real("pixel_range[0]", pixel_range[0])
    hi = check_real("pixel_range[1]", pixel_range[1])
    if not lo < hi:
        raise ValueError(f"pixel_range must satisfy lo < hi, got {pixel_range!r}")
    seed = check_int("seed", seed, low=0)
    pair = _parse_pair(binary)
    if name == "digits":
        tx, ty, sx, sy, scale = _load_digits()
        label = "digits"
    elif name in ("fashion_mnist", "mnist"):
        tx, ty, sx, sy, scale = _load_idx_arrays(name, root)
        label = name
    elif Path(name).is_dir():
        tx, ty, sx, sy, scale = _load_idx_arrays("mnist", name)
        label = Path(name).name
    else:
        check_choice("name", name, (*DATASETS, "<a folder of IDX files>"))
        raise AssertionError("unreachable")

    classes = tuple(int(c) for c in np.unique(ty))
    num_classes = len(classes)
    if pair is not None:
        for c in pair:
            if c not in classes:
                raise ValueError(f"binary class {c} is not in {label} (classes {classes})")
        keep_tr = np.isin(ty, pair)
        keep_te = np.isin(sy, pair)
        tx, ty, sx, sy = tx[keep_tr], ty[keep_tr], sx[keep_te], sy[keep_te]
        ty = np.where(ty == pair[0], 1.0, -1.0).astype(np.float32)
        sy = np.where(sy == pair[0], 1.0, -1.0).astype(np.float32)
        classes, num_classes = pair, 1

    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(ty))
    if isinstance(val_size, float):
        frac = check_real("val_size", val_size, low=0.0, high=1.0, high_open=True)
        n_val = round(frac * len(ty))
    else:
        n_val = check_int("val_size", val_size, low=0, high=len(ty) - 1)
    val_idx, tr_idx = perm[:n_val], perm[n_val:]
    if subset is not None:
        subset = check_int("subset", subset, low=1)
        tr_idx = tr_idx[:subset]
    te_idx = rng.permutation(len(sy))
    if test_subset is not None:
        te_idx = te_idx[: check_int("test_subset", test_subset, low=1)]

    def to_split(x: np.ndarray, y: np.ndarray) -> Split:
        xs = torch.from_numpy(_scale(x, scale, lo, hi))
        ys = torch.from_numpy(np.ascontiguousarray(y))
        return Split(xs.contiguous(), ys)

    return Data(
        name=label if pair is None else f"{label}_{pair[0]}v{pair[1]}",
        train=to_split(tx[tr_idx], ty[tr_idx]),
        val=to_split(tx[val_idx], ty[val_idx]) if n_val else None,
        test=to_split(sx[te_idx], sy[te_idx]),
        num_classes=num_classes,
        input_shape=tuple(int(s) for s in tx.shape[1:]),
        pixel_range=(lo, hi),
        classes=classes,
    )
