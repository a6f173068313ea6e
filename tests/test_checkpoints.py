"""Checkpoints under faults (issue 18, item 4): every changed byte, every truncation, a
checkpoint of another network, a malicious pickle, an older format and an interrupted or
killed write give one clear error or leave the previous checkpoint loadable."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from tradeoff.torch import cli, data, nets, train  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def digits():
    return data.load("digits", subset=96, seed=0)


@pytest.fixture(scope="module")
def written(digits, tmp_path_factory):
    """A checkpoint of a short run (after 1 of 2 batches of epoch 1) and its bytes."""
    path = tmp_path_factory.mktemp("ckpt") / "run.pt"
    net = nets.build("linear", input_shape=digits.input_shape, seed=0)
    train.fit(
        net, digits, epochs=1, batch_size=48, checkpoint=path, checkpoint_every=1, progress=False
    )
    return path, path.read_bytes()


def same_state(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict):
        return (
            isinstance(b, dict) and a.keys() == b.keys() and all(same_state(a[k], b[k]) for k in a)
        )
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(same_state, a, b))
    return a == b


def tensor_offsets(raw: bytes) -> list[int]:
    """Byte offsets of the tensor data inside torch.save's zip archive."""
    import io

    out = []
    with zipfile.ZipFile(io.BytesIO(raw)) as z:
        for info in z.infolist():
            if "/data/" in info.filename and info.file_size:
                # local header: 30 bytes + name + extra, then the (stored) data
                h = info.header_offset
                n = int.from_bytes(raw[h + 26 : h + 28], "little")
                m = int.from_bytes(raw[h + 28 : h + 30], "little")
                out.append(h + 30 + n + m + info.file_size // 2)
    return out


def test_a_flipped_byte_in_the_tensor_data_is_refused(written, tmp_path):
    """Torch's zip reader does not check the tensor records: a changed weight loaded
    without a word and ``--resume`` carried on. The SHA-256 of the content catches it."""
    _, raw = written
    offsets = tensor_offsets(raw)
    assert len(offsets) >= 4
    for k, off in enumerate(offsets):
        bad = tmp_path / f"flip{k}.pt"
        bad.write_bytes(raw[:off] + bytes([raw[off] ^ 0x10]) + raw[off + 1 :])
        torch.load(bad, weights_only=True)  # torch itself reads it without complaint
        with pytest.raises(ValueError, match=rf"{bad.name}: corrupt checkpoint: the SHA-256"):
            train.load_checkpoint(bad)


@settings(max_examples=60)
@given(position=st.floats(0.0, 1.0, exclude_max=True), bit=st.integers(0, 7))
def test_any_changed_byte_is_refused_or_harmless(written, tmp_path_factory, position, bit):
    """A byte changed anywhere: a ValueError naming the file, or (a byte torch never
    reads, e.g. zip padding or a CRC) exactly the original content."""
    path, raw = written
    off = int(position * len(raw))
    bad = tmp_path_factory.mktemp("flip") / "c.pt"
    bad.write_bytes(raw[:off] + bytes([raw[off] ^ (1 << bit)]) + raw[off + 1 :])
    try:
        state = train.load_checkpoint(bad)
    except ValueError as exc:
        assert str(bad) in str(exc)
    else:
        assert same_state(state, train.load_checkpoint(path))


@pytest.mark.parametrize("keep", [0.0, 0.01, 0.3, 0.5, 0.9, 0.999])
def test_a_truncated_file_is_refused(written, tmp_path, keep):
    _, raw = written
    bad = tmp_path / "cut.pt"
    bad.write_bytes(raw[: int(keep * len(raw))])
    with pytest.raises(ValueError, match=r"cut\.pt: (not a readable|corrupt) checkpoint"):
        train.load_checkpoint(bad)


def test_malicious_and_foreign_and_older_files_are_refused(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    evil = tmp_path / "evil.pt"
    torch.save({"format": train.CHECKPOINT_FORMAT, "x": Evil()}, evil)
    with pytest.raises(ValueError, match=r"evil\.pt: not a readable checkpoint"):
        train.load_checkpoint(evil)
    assert not marker.exists()
    plain = tmp_path / "weights.pt"
    torch.save(nn.Linear(2, 2).state_dict(), plain)
    with pytest.raises(ValueError, match="is not a tradeoff training checkpoint"):
        train.load_checkpoint(plain)
    old = tmp_path / "old.pt"
    torch.save({"format": "tradeoff.fit/1", "model": {}}, old)
    with pytest.raises(ValueError, match=r"older checkpoint format tradeoff\.fit/1"):
        train.load_checkpoint(old)
    # the checksum right but an entry of the wrong type (a hand-made file)
    forged = tmp_path / "forged.pt"
    with pytest.raises(TypeError, match="state must be a dict"):
        train.save_checkpoint(forged, [1, 2])
    train.save_checkpoint(forged, {"format": train.CHECKPOINT_FORMAT, "epoch": "one"})
    with pytest.raises(ValueError, match=r"forged\.pt: corrupt checkpoint: entry 'config'"):
        train.load_checkpoint(forged)


def test_resuming_with_another_network_is_refused_untouched(digits, written, tmp_path):
    _, raw = written
    ckpt = tmp_path / "run.pt"
    ckpt.write_bytes(raw)
    other = nets.build("toy_mlp", input_shape=digits.input_shape, seed=1)
    before = {k: v.clone() for k, v in other.state_dict().items()}
    with pytest.raises(ValueError, match=r"holds another network"):
        train.fit(
            other, digits, epochs=1, batch_size=48, checkpoint=ckpt, resume=True, progress=False
        )
    assert all(torch.equal(before[k], v) for k, v in other.state_dict().items())
    wide = nets.build("linear", input_shape=digits.input_shape, num_classes=12, seed=0)
    with pytest.raises(ValueError, match=r"holds another network: .* has shape \(10, 64\) there"):
        train.fit(
            wide, digits, epochs=1, batch_size=48, checkpoint=ckpt, resume=True, progress=False
        )


def test_a_failed_write_keeps_the_previous_checkpoint_and_no_stray_file(
    digits, written, tmp_path, monkeypatch
):
    """A write that fails half-way (disk full) leaves the previous checkpoint loadable,
    bit for bit, and no temporary file."""
    _, raw = written
    ckpt = tmp_path / "run.pt"
    ckpt.write_bytes(raw)
    real_save = torch.save

    def half_then_fail(obj, fh, *a, **k):
        fh.write(b"PK\x03\x04" + b"\0" * 1000)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", half_then_fail)
    net = nets.build("linear", input_shape=digits.input_shape, seed=0)
    with pytest.raises(OSError, match="No space left"):
        train.fit(net, digits, epochs=1, batch_size=48, checkpoint=ckpt, progress=False)
    monkeypatch.setattr(torch, "save", real_save)
    assert ckpt.read_bytes() == raw
    train.load_checkpoint(ckpt)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.pt"]


def test_a_killed_writer_leaves_the_previous_checkpoint_and_the_next_run_cleans_up(
    written, tmp_path
):
    """SIGKILL in the middle of the write: the previous checkpoint stays as it was, and
    the half-written temporary file is removed by the next run (not while its writer
    lives: a concurrent writer's file is kept)."""
    path, raw = written
    ckpt = tmp_path / "run.pt"
    ckpt.write_bytes(raw)
    script = textwrap.dedent(
        f"""
        import os, signal, torch
        from tradeoff.torch import train
        state = train.load_checkpoint({str(path)!r})
        def half_then_die(obj, fh, *a, **k):
            fh.write(b"PK\\x03\\x04" + b"\\0" * 4096)
            fh.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        torch.save = half_then_die
        train.save_checkpoint({str(ckpt)!r}, state)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    stray = [p for p in tmp_path.iterdir() if p.name != "run.pt"]
    assert len(stray) == 1 and stray[0].name.endswith(".tmp")
    assert ckpt.read_bytes() == raw
    # a live writer's temporary file (this process) is kept
    mine = tmp_path / (train._tmp_prefix(ckpt) + "abc.tmp")
    mine.write_bytes(b"in progress")
    assert train.remove_stale_temporaries(ckpt) == stray
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["run.pt", mine.name])
    mine.unlink()


def test_next_fit_removes_a_stale_temporary_file(digits, tmp_path):
    ckpt = tmp_path / "run.pt"
    prefix = train._tmp_prefix(ckpt).rsplit(".", 2)[0]
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True
    )
    stale = tmp_path / f"{prefix}.{int(dead.stdout)}.xyz.tmp"
    stale.write_bytes(b"PK\x03\x04 half")
    net = nets.build("linear", input_shape=digits.input_shape, seed=0)
    train.fit(net, digits, epochs=1, batch_size=48, checkpoint=ckpt, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.pt"]


def test_cli_resume_of_a_corrupt_checkpoint_is_one_error_line(written, tmp_path, capsys):
    _, raw = written
    off = tensor_offsets(raw)[0]
    ckpt = tmp_path / "run.pt"
    ckpt.write_bytes(raw[:off] + bytes([raw[off] ^ 1]) + raw[off + 1 :])
    argv = ["--data", "digits", "--net", "linear", "--subset", "96", "--epochs", "1"]
    argv += ["--batch-size", "48", "--method", "standard", "--optimizer", "sgd", "--lr", "0.01"]
    argv += ["--checkpoint", str(ckpt), "--resume", "--quiet", "--eval-eps", "0"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "SHA-256" in err[0]
    with pytest.raises(ValueError, match="SHA-256"):
        cli.main([*argv, "--debug"])


def test_cli_diverging_run_is_one_error_line(capsys):
    argv = ["--data", "digits", "--net", "linear", "--subset", "64", "--epochs", "1"]
    argv += ["--optimizer", "sgd", "--lr", "1e30", "--weight-decay", "1e30", "--quiet"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "training diverged" in err[0] and "lr=1e+30" in err[0]


def test_checkpoint_format_is_plain_torch_and_carries_the_checksum(written):
    path, _ = written
    state = torch.load(path, weights_only=True)
    assert state["format"] == train.CHECKPOINT_FORMAT == "tradeoff.fit/2"
    assert len(state["sha256"]) == 64
    assert Path(path).exists()
