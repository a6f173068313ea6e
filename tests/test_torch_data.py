"""tradeoff.torch.data: the IDX reader on files written here, named datasets, subsets."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from tradeoff.torch import data  # noqa: E402

IDX_STEMS = {
    "train_x": "train-images-idx3-ubyte",
    "train_y": "train-labels-idx1-ubyte",
    "test_x": "t10k-images-idx3-ubyte",
    "test_y": "t10k-labels-idx1-ubyte",
}


def idx_bytes(arr: np.ndarray, code: int = 0x08) -> bytes:
    """An IDX file written from the format description (independent of the reader)."""
    dt = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}[code]
    head = bytes([0, 0, code, arr.ndim]) + struct.pack(">" + "I" * arr.ndim, *arr.shape)
    return head + arr.astype(dt).tobytes()


def write_idx_folder(folder, n_train=60, n_test=20, gz=True, seed=0):
    """Four MNIST-format files with a known pattern: image i is filled with (i % 256)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for split, n in (("train", n_train), ("test", n_test)):
        y = rng.integers(0, 10, size=n).astype(np.uint8)
        x = np.empty((n, 28, 28), np.uint8)
        x[:] = (np.arange(n) % 256).astype(np.uint8)[:, None, None]
        x[:, 0, 0] = y * 20  # a pixel that ties the image to its label
        out[split] = (x, y)
        for key, arr in ((f"{split}_x", x), (f"{split}_y", y)):
            raw = idx_bytes(arr)
            name = IDX_STEMS[key]
            if gz:
                (folder / (name + ".gz")).write_bytes(gzip.compress(raw))
            else:
                (folder / name).write_bytes(raw)
    return out


@pytest.mark.parametrize("code", [0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E])
@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_roundtrip(tmp_path, code, gz):
    rng = np.random.default_rng(code)
    arr = (rng.integers(0, 100, size=(3, 4, 5)) - (0 if code == 0x08 else 50)).astype(np.float64)
    raw = idx_bytes(arr, code)
    path = tmp_path / ("f.idx.gz" if gz else "f.idx")
    path.write_bytes(gzip.compress(raw) if gz else raw)
    got = data.read_idx(path)
    assert got.shape == (3, 4, 5)
    np.testing.assert_array_equal(got.astype(np.float64), arr)
    assert got.dtype.isnative


def test_read_idx_truncated_file_names_file(tmp_path):
    raw = idx_bytes(np.zeros((10, 28, 28), np.uint8))
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(raw[:-7])
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte.*truncated"):
        data.read_idx(path)
    path.write_bytes(raw + b"\0")
    with pytest.raises(ValueError, match="trailing bytes"):
        data.read_idx(path)
    path.write_bytes(raw[:9])  # header cut short
    with pytest.raises(ValueError, match="truncated IDX header"):
        data.read_idx(path)


def test_read_idx_foreign_and_corrupt_files(tmp_path):
    png = tmp_path / "picture.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    with pytest.raises(ValueError, match=r"picture.png.*not an IDX file"):
        data.read_idx(png)
    bad_code = tmp_path / "bad.idx"
    bad_code.write_bytes(bytes([0, 0, 0x07, 1]) + struct.pack(">I", 0))
    with pytest.raises(ValueError, match="not an IDX file"):
        data.read_idx(bad_code)
    gz = tmp_path / "cut.gz"
    noise = np.random.default_rng(0).integers(0, 256, size=(50, 28, 28)).astype(np.uint8)
    packed = gzip.compress(idx_bytes(noise))
    gz.write_bytes(packed[: len(packed) // 2])
    with pytest.raises(ValueError, match=r"cut.gz"):
        data.read_idx(gz)
    notgz = tmp_path / "plain.gz"
    notgz.write_bytes(idx_bytes(np.zeros((2, 2), np.uint8)))
    with pytest.raises(ValueError, match=r"plain.gz.*gzip"):
        data.read_idx(notgz)
    with pytest.raises(FileNotFoundError, match=r"missing\.idx"):
        data.read_idx(tmp_path / "missing.idx")


@pytest.mark.parametrize("gz", [False, True])
def test_load_idx_folder_values_and_scaling(tmp_path, gz):
    written = write_idx_folder(tmp_path / "mnist", gz=gz)
    d = data.load("mnist", root=tmp_path)
    assert (len(d.train), len(d.test), d.num_classes) == (
        60,
        20,
        len(np.unique(written["train"][1])),
    )
    assert d.input_shape == (1, 28, 28) and d.train.x.dtype == torch.float32
    # every loaded image is one of the written ones, scaled by 1/255, with its own label
    x, y = written["train"]
    for img, label in zip(d.train.x, d.train.y):
        i = round(float(img[0, 5, 5]) * 255)
        assert int(label) == int(y[i])
        np.testing.assert_allclose(img[0].numpy(), x[i] / 255.0, atol=1e-7)
    assert sorted(round(float(v) * 255) for v in d.train.x[:, 0, 5, 5]) == list(range(60))
    k = data.load("mnist", root=tmp_path, pixel_range=(-1.0, 1.0))
    assert float(k.train.x.min()) >= -1.0 and float(k.train.x.max()) <= 1.0
    np.testing.assert_allclose(
        np.sort(k.train.x[:, 0, 5, 5].numpy()), np.arange(60) / 255.0 * 2 - 1, atol=1e-6
    )


def test_load_torchvision_layout_and_env(tmp_path, monkeypatch):
    write_idx_folder(tmp_path / "MNIST" / "raw", gz=False)
    monkeypatch.setenv("TRADEOFF_DATA", str(tmp_path))
    d = data.load("mnist")
    assert len(d.train) == 60
    assert data.find_idx_folder(tmp_path, "mnist") == tmp_path / "MNIST" / "raw"
    d2 = data.load(str(tmp_path / "MNIST" / "raw"))  # a folder given directly
    assert torch.equal(d2.train.x, d.train.x)


def test_missing_dataset_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("TRADEOFF_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"TRADEOFF_DATA=DIR"):
        data.load("mnist")
    with pytest.raises(FileNotFoundError, match="dataset-fashion-mnist"):
        data.load("fashion_mnist", root=tmp_path)
    with pytest.raises(ValueError, match="name must be one of"):
        data.load("cifar11")


def test_binary_subset_val_split_and_subset(tmp_path):
    written = write_idx_folder(tmp_path, n_train=200, n_test=80)
    y_all = written["train"][1]
    pair = (int(y_all[0]), int(y_all[1]) if y_all[1] != y_all[0] else int((y_all[0] + 1) % 10))
    d = data.load(str(tmp_path), binary=pair, val_size=0.25, seed=3)
    n_pair = int(np.isin(y_all, pair).sum())
    assert len(d.train) + len(d.val) == n_pair and len(d.val) == round(0.25 * n_pair)
    assert d.num_classes == 1 and d.binary and d.classes == pair
    assert set(d.train.y.tolist()) <= {1.0, -1.0}
    # labels: +1 exactly for the first class (the image's pixel (0,0) stores label*20)
    lab = torch.round(d.train.x[:, 0, 0, 0] * 255 / 20)
    assert torch.equal(d.train.y == 1, lab == pair[0])
    # train and validation are disjoint (images are unique by pixel (5,5))
    ids_tr = {round(float(v) * 255) for v in d.train.x[:, 0, 5, 5]}
    ids_va = {round(float(v) * 255) for v in d.val.x[:, 0, 5, 5]}
    assert not ids_tr & ids_va
    # seeded: same seed same split, other seed other split
    again = data.load(str(tmp_path), binary=pair, val_size=0.25, seed=3)
    other = data.load(str(tmp_path), binary=pair, val_size=0.25, seed=4)
    assert torch.equal(again.val.x, d.val.x)
    assert not torch.equal(other.val.x, d.val.x)
    small = data.load(str(tmp_path), subset=17, test_subset=9, val_size=10)
    assert (len(small.train), len(small.test), len(small.val)) == (17, 9, 10)


def test_bad_arguments(tmp_path):
    write_idx_folder(tmp_path)
    with pytest.raises(ValueError, match="pixel_range"):
        data.load("digits", pixel_range=(1.0, 0.0))
    with pytest.raises(ValueError, match="binary class 11"):
        data.load("digits", binary=(1, 11))
    with pytest.raises(TypeError, match="binary"):
        data.load("digits", binary=5)
    with pytest.raises(ValueError, match="subset"):
        data.load("digits", subset=0)
    with pytest.raises(ValueError, match="val_size"):
        data.load("digits", val_size=1.5)


def test_digits():
    d = data.load("digits")
    assert len(d.train) + len(d.test) == 1797 and d.input_shape == (1, 8, 8)
    assert float(d.train.x.min()) == 0.0 and float(d.train.x.max()) == 1.0
    assert d.num_classes == 10
    from sklearn.datasets import load_digits

    ref = load_digits()
    # the loaded images are exactly sklearn's, divided by 16
    key = {tuple(img.astype(int).ravel()) for img in ref.images}
    assert all(tuple((x[0].numpy() * 16).round().astype(int).ravel()) in key for x in d.test.x)
    b = data.load("digits", binary=(5, 7))
    n57 = int(np.isin(ref.target, (5, 7)).sum())
    assert len(b.train) + len(b.test) == n57


FASHION = data.FASHION_MNIST_DEBIAN


@pytest.mark.skipif(
    data.find_idx_folder(FASHION, "fashion_mnist") is None,
    reason=f"Fashion-MNIST not installed in {FASHION} (apt-get install dataset-fashion-mnist)",
)
def test_fashion_mnist_debian_package():
    d = data.load("fashion_mnist", subset=500, test_subset=200)
    assert (len(d.train), len(d.test), d.num_classes) == (500, 200, 10)
    full = data.read_idx(next(FASHION.glob("train-labels*")))
    assert full.shape == (60000,)
    assert np.bincount(full).tolist() == [6000] * 10
    timg = data.read_idx(next(FASHION.glob("t10k-images*")))
    assert timg.shape == (10000, 28, 28) and timg.dtype == np.uint8


@pytest.mark.parametrize("pixel_range", [(0.0, 0.1), (-0.1, 0.7), (0.2, 0.3), (-1.0, 1.0)])
def test_pixel_range_not_representable_in_float32(pixel_range):
    """Pixels equal lo + (hi − lo)·v/16 rounded to float32 (computed here in exact
    rationals), so they lie in [float32(lo), float32(hi)] — which float32(0.1) > 0.1 shows
    is not [lo, hi] itself; the attacks accept exactly that range for clip=(lo, hi)."""
    from fractions import Fraction

    from sklearn.datasets import load_digits

    from tradeoff.torch import attacks, nets

    lo, hi = pixel_range
    d = data.load("digits", pixel_range=pixel_range)
    lo32, hi32 = np.float32(lo), np.float32(hi)
    assert float(d.train.x.min()) == lo32 and float(d.train.x.max()) == hi32
    exact = {
        v: np.float32(float(Fraction(lo) + (Fraction(hi) - Fraction(lo)) * Fraction(v, 16)))
        for v in range(17)
    }
    raw = np.unique(load_digits().images.astype(int))
    # float64 intermediates: one float32 rounding step (or 1e-16 near a cancellation to 0)
    np.testing.assert_allclose(
        np.unique(d.train.x.numpy()), sorted(exact[v] for v in raw), rtol=2**-23, atol=1e-15
    )
    net = nets.build("toy_mlp", input_shape=(1, 8, 8), num_classes=10, seed=0)
    for norm in ("linf", "l2"):
        xa = attacks.pgd(
            net,
            d.test.x[:64],
            d.test.y[:64],
            eps=0.05,
            alpha=0.02,
            steps=3,
            norm=norm,
            clip=pixel_range,
            seed=0,
        )
        assert float(xa.min()) >= lo32 and float(xa.max()) <= hi32


def test_idx_images_outside_0_255_are_refused(tmp_path):
    """An int16 IDX image file with a value 300 (or −1) cannot be MNIST pixels: a clear
    error naming the file, not silently clipped (nor pixels outside the stated range)."""
    for bad in (300, -1):
        folder = tmp_path / str(bad)
        write_idx_folder(folder, gz=False)
        x = np.zeros((20, 28, 28), np.int16)
        x[3, 4, 5] = bad
        (folder / IDX_STEMS["test_x"]).write_bytes(idx_bytes(x, code=0x0B))
        with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte: pixel values in"):
            data.load(str(folder))
