"""Data loaders: IDX (raw/gzip, all types), dataset discovery and its one-message failure,
the pinned-hash MNIST download path (file:// mirror, no network), CIFAR python format through the
restricted unpickler, and the installed Fashion-MNIST when present."""
from __future__ import annotations

import gzip
import hashlib
import pickle
import struct
import tarfile

import numpy as np
import pytest

from convergence.nn import data
from convergence._validate import ConfigError

_CODES = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C, np.float32: 0x0D, np.float64: 0x0E}


def idx_bytes(arr: np.ndarray) -> bytes:
    """An IDX file written from the format's definition (big-endian header and data)."""
    code = _CODES[arr.dtype.type]
    head = bytes([0, 0, code, arr.ndim]) + struct.pack(f">{arr.ndim}i", *arr.shape)
    return head + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


def write_mnist_like(directory, n_train=12, n_test=5, gz=True, seed=0):
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    arrays = {"train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
              "train-labels-idx1-ubyte": rng.integers(0, 10, n_train).astype(np.uint8),
              "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
              "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test).astype(np.uint8)}
    for stem, a in arrays.items():
        raw = idx_bytes(a)
        if gz:
            (directory / (stem + ".gz")).write_bytes(gzip.compress(raw))
        else:
            (directory / stem).write_bytes(raw)
    return arrays


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No system data, no env var, an empty cache: only what the test creates is visible."""
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(data, "DEBIAN_FASHION_MNIST", tmp_path / "no-debian")
    return tmp_path


@pytest.mark.parametrize("dtype", list(_CODES))
@pytest.mark.parametrize("gz", [False, True])
def test_idx_roundtrip_every_type(tmp_path, dtype, gz):
    a = (np.arange(24).reshape(2, 3, 4) - 7).astype(dtype)
    if dtype == np.uint8:
        a = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    raw = idx_bytes(a)
    p = tmp_path / "x.idx"
    p.write_bytes(gzip.compress(raw) if gz else raw)
    out = data.read_idx(p)
    assert out.shape == a.shape and out.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(out, a)


def test_idx_rejects_bad_magic_and_truncation(tmp_path):
    p = tmp_path / "bad"
    p.write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(ConfigError, match="not an IDX"):
        data.read_idx(p)
    p.write_bytes(idx_bytes(np.zeros((3, 2), np.uint8))[:-1])
    with pytest.raises(ConfigError, match="bytes"):
        data.read_idx(p)


def test_load_from_data_dir_and_env_and_auto_prefers_mnist(isolated, monkeypatch):
    root = isolated / "d"
    fm = write_mnist_like(root / "fashion-mnist", seed=1)
    ds = data.load_mnist_like("auto", root)
    assert ds.name == "fashion-mnist"
    np.testing.assert_array_equal(ds.x_train, fm["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(ds.y_test, fm["t10k-labels-idx1-ubyte"])
    mn = write_mnist_like(root / "mnist", gz=False, seed=2)
    monkeypatch.setenv(data.ENV_VAR, str(root))
    ds = data.load_mnist_like("auto")
    assert ds.name == "mnist" and ds.y_train.dtype == np.int64
    np.testing.assert_array_equal(ds.x_test, mn["t10k-images-idx3-ubyte"])
    xtr, ytr, xte, yte = data.prepare(ds, n_train=5, flatten=False)
    assert xtr.shape == (5, 1, 28, 28) and xtr.dtype == np.float32 and 0 <= xtr.min() and xtr.max() <= 1
    assert len(xte) == len(yte) == 5


def test_missing_data_raises_one_message_saying_how_to_get_it(isolated):
    with pytest.raises(data.DataUnavailable) as err:
        data.load_mnist_like("auto")
    msg = str(err.value)
    assert "apt-get install dataset-fashion-mnist" in msg and "--data-dir" in msg and data.ENV_VAR in msg
    assert data.main(["status"]) == 0


def test_fetch_mnist_verifies_pinned_hashes_via_a_file_mirror(isolated, monkeypatch):
    mirror = isolated / "mirror"
    arrays = write_mnist_like(mirror, n_train=7, n_test=3)
    pins = {f"{s}.gz": hashlib.md5((mirror / f"{s}.gz").read_bytes()).hexdigest() for s in data.IDX_STEMS}
    monkeypatch.setattr(data, "MNIST_FILES", pins)
    out = data.fetch_mnist(base_url=mirror.as_uri())
    assert out == data.cache_dir() / "mnist"
    ds = data.load_mnist_like("mnist")
    np.testing.assert_array_equal(ds.x_train, arrays["train-images-idx3-ubyte"])
    # a wrong pin is refused and leaves no file behind
    bad = dict(pins, **{"t10k-labels-idx1-ubyte.gz": "0" * 32})
    monkeypatch.setattr(data, "MNIST_FILES", bad)
    with pytest.raises(ConfigError, match="MD5"):
        data.fetch_mnist(isolated / "other", base_url=mirror.as_uri())
    assert not (isolated / "other" / "t10k-labels-idx1-ubyte.gz").exists()


def test_fetch_mnist_network_failure_is_one_clear_message(isolated):
    def offline(url, md5, dest):
        raise OSError("network unreachable")
    with pytest.raises(data.DataUnavailable, match="could not download"):
        data.fetch_mnist(base_url="https://example.invalid/mnist", fetch=offline)


def test_mnist_pins_are_the_official_ones():
    # the MD5 values published with MNIST (torchvision pins the same four)
    assert data.MNIST_FILES["train-images-idx3-ubyte.gz"] == "f68b3c2dcbeaaa9fbdd348bbdeb94873"
    assert data.MNIST_FILES["t10k-labels-idx1-ubyte.gz"] == "ec29112dd5afa0611ce80d1b7f02629c"


# -- CIFAR --------------------------------------------------------------------------------------

def _batch(n, rng, label_keys=(b"labels",)):
    d = {b"batch_label": b"testing batch", b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
         b"filenames": [b"img%d.png" % i for i in range(n)]}
    for k in label_keys:   # CIFAR-10 has 10 classes, CIFAR-100 100 fine and 20 coarse ones
        d[k] = rng.integers(0, {b"labels": 10, b"fine_labels": 100, b"coarse_labels": 20}[k], n).tolist()
    return pickle.dumps(d, protocol=2)


def _write_cifar10(root, rng):
    root.mkdir(parents=True)
    for i in range(1, 6):
        (root / f"data_batch_{i}").write_bytes(_batch(3, rng))
    (root / "test_batch").write_bytes(_batch(2, rng))
    (root / "batches.meta").write_bytes(pickle.dumps({b"label_names": [b"a"] * 10}, protocol=2))


def test_cifar10_directory_and_tarball(tmp_path):
    rng = np.random.default_rng(0)
    root = tmp_path / "cifar-10-batches-py"
    _write_cifar10(root, rng)
    ds = data.load_cifar(tmp_path)
    assert ds.name == "cifar-10" and ds.x_train.shape == (15, 3, 32, 32) and ds.x_test.shape == (2, 3, 32, 32)
    ref = pickle.loads((root / "data_batch_2").read_bytes(), encoding="bytes")
    np.testing.assert_array_equal(ds.x_train[3:6].reshape(3, -1), ref[b"data"])
    np.testing.assert_array_equal(ds.y_train[3:6], ref[b"labels"])
    tgz = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(tgz, "w:gz") as tar:
        tar.add(root, arcname="cifar-10-batches-py")
    ds2 = data.load_cifar(tgz)
    np.testing.assert_array_equal(ds2.x_train, ds.x_train)
    np.testing.assert_array_equal(ds2.y_test, ds.y_test)


def test_cifar100_fine_and_coarse(tmp_path):
    rng = np.random.default_rng(1)
    root = tmp_path / "cifar-100-python"
    root.mkdir()
    (root / "train").write_bytes(_batch(4, rng, (b"fine_labels", b"coarse_labels")))
    (root / "test").write_bytes(_batch(2, rng, (b"fine_labels", b"coarse_labels")))
    ref = pickle.loads((root / "train").read_bytes(), encoding="bytes")
    fine = data.load_cifar(root)
    coarse = data.load_cifar(root, coarse=True)
    assert fine.name == "cifar-100"
    np.testing.assert_array_equal(fine.y_train, ref[b"fine_labels"])
    np.testing.assert_array_equal(coarse.y_train, ref[b"coarse_labels"])


class _Evil:
    def __reduce__(self):
        import os
        return (os.system, ("echo pwned",))


def test_restricted_unpickler_refuses_code(tmp_path):
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        data.safe_unpickle(pickle.dumps({b"data": _Evil()}, protocol=2))
    # a numpy array and plain containers are fine
    arr = np.arange(6, dtype=np.uint8).reshape(2, 3)
    out = data.safe_unpickle(pickle.dumps({b"data": arr, b"x": [1, 2.5, b"s", "t"]}, protocol=2))
    np.testing.assert_array_equal(out[b"data"], arr)


def test_missing_cifar_is_one_message(tmp_path):
    with pytest.raises(data.DataUnavailable, match="cifar"):
        data.load_cifar(tmp_path / "nope")


# -- the real dataset (skips with the reason when absent) -----------------------------------------

def test_installed_fashion_mnist_has_the_documented_shape_and_balance():
    d = data.find_idx_dir("fashion-mnist")
    if d is None:
        pytest.skip("Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
    ds = data.load_mnist_like("fashion-mnist")
    assert ds.x_train.shape == (60000, 28, 28) and ds.x_test.shape == (10000, 28, 28)
    np.testing.assert_array_equal(np.bincount(ds.y_train), np.full(10, 6000))
    np.testing.assert_array_equal(np.bincount(ds.y_test), np.full(10, 1000))

