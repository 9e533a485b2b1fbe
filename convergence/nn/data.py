r"""Datasets for the network experiments: MNIST / Fashion-MNIST (IDX) and CIFAR-10/100 (python format).

Where the data comes from (first hit wins), for ``name`` in ``{"mnist", "fashion-mnist"}``:

1. ``data_dir`` (the CLI's ``--data-dir``), then the env var ``CONVERGENCE_DATA``: the four IDX
   files ``{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]`` in ``DIR/<name>/`` or in ``DIR``;
2. the download cache ``$XDG_CACHE_HOME/convergence/<name>`` (``~/.cache/...``), filled by
   :func:`fetch_mnist` (pooch with pinned MD5 hashes when online);
3. Fashion-MNIST only: the Debian package ``dataset-fashion-mnist``
   (``/usr/share/datasets/fashion-mnist/``; ``apt-get install dataset-fashion-mnist``).

:func:`load_mnist_like` with ``name="auto"`` takes MNIST when present and Fashion-MNIST
otherwise (the papers used MNIST; the result says which was used). When nothing is found a single
:class:`DataUnavailable` (a :class:`~convergence.ConfigError`) says how to get the data.

IDX format (LeCun): big-endian header ``0 0 <type> <ndim>`` then ``ndim`` int32 sizes, then the
data; type 0x08 = uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64. Files may
be gzip-compressed (detected by the magic bytes, not the name).

CIFAR python format: each batch file is a *pickled* dict (``b"data"``: uint8 (N, 3072) in CHW order,
``b"labels"`` or ``b"fine_labels"``/``b"coarse_labels"``). Unpickling untrusted data can run
arbitrary code, so :func:`safe_unpickle` uses an unpickler whose ``find_class`` admits only the
handful of globals a numpy array needs (``numpy…multiarray._reconstruct``, ``numpy.ndarray``,
``numpy.dtype``, ``_codecs.encode`` for Python-3 protocol-2 bytes); anything else (e.g.
``os.system``) raises :class:`pickle.UnpicklingError`. Plain dicts/lists/bytes/ints need no globals.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import math
import os
import pathlib
import pickle
import shutil
import struct
import tarfile
import tempfile
import urllib.request
import zlib
from typing import Any, Callable, NamedTuple

import numpy as np
from numpy.typing import NDArray

from convergence._validate import ConfigError

__all__ = ["DataUnavailable", "DataError", "ImageData", "read_idx", "find_idx_dir", "load_mnist_like", "fetch_mnist",
           "prepare", "safe_unpickle", "load_cifar", "MNIST_FILES", "DEBIAN_FASHION_MNIST", "available"]

DEBIAN_FASHION_MNIST = pathlib.Path("/usr/share/datasets/fashion-mnist")
ENV_VAR = "CONVERGENCE_DATA"
MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"
#: pinned MD5 of the official MNIST archives (as torchvision pins them)
MNIST_FILES = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
IDX_STEMS = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
NAMES = ("mnist", "fashion-mnist")

_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}

HOW_TO_GET = ("Get one of them: (a) `sudo apt-get install dataset-fashion-mnist` (Debian/Ubuntu; "
              "installs Fashion-MNIST to /usr/share/datasets/fashion-mnist), or (b) online: "
              "`convergence data fetch-mnist` (downloads MNIST with pinned hashes into "
              "~/.cache/convergence/mnist), or (c) put the four IDX files "
              "{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz] into DIR/mnist or DIR/fashion-mnist and pass "
              f"--data-dir DIR or set {ENV_VAR}=DIR.")


def _how_to_get(name: str = "auto") -> str:
    """How to get ``name``: ``mnist``, ``fashion-mnist``, or ``auto`` (either; :data:`HOW_TO_GET`)."""
    place = (f"put its four IDX files {{train,t10k}}-{{images-idx3,labels-idx1}}-ubyte[.gz] into DIR/{name} and "
             f"pass --data-dir DIR or set {ENV_VAR}=DIR")
    if name == "mnist":
        return ("Get MNIST: online, `convergence data fetch-mnist` (downloads it with pinned hashes into "
                f"{cache_dir() / 'mnist'}), or {place}.")
    if name == "fashion-mnist":
        return ("Get Fashion-MNIST: `sudo apt-get install dataset-fashion-mnist` (Debian/Ubuntu; installs it to "
                f"/usr/share/datasets/fashion-mnist), or {place}.")
    return HOW_TO_GET


class DataUnavailable(ConfigError):
    """The requested dataset is not on this machine (the message says how to get it)."""


class DataError(ConfigError):
    """A data file is corrupt, truncated, hostile or of the wrong shape (the message names the file)."""


class ImageData(NamedTuple):
    """A classification dataset: images uint8 (N, H, W) or (N, C, H, W), labels int64 (N,)."""

    name: str
    source: str
    x_train: NDArray[np.uint8]
    y_train: NDArray[np.int64]
    x_test: NDArray[np.uint8]
    y_test: NDArray[np.int64]


# -- IDX --------------------------------------------------------------------------------------

#: the largest decompressed IDX file accepted (MNIST's training images are 47 MB)
MAX_IDX_BYTES = 1 << 31


def _read_bytes(path: str | os.PathLike[str]) -> bytes:
    try:
        with open(path, "rb") as f:
            raw = f.read()
        if raw[:2] == b"\x1f\x8b":
            with gzip.GzipFile(fileobj=io.BytesIO(raw)) as g:
                raw = g.read(MAX_IDX_BYTES + 1)
            if len(raw) > MAX_IDX_BYTES:
                raise DataError(f"{path}: decompresses to more than {MAX_IDX_BYTES} bytes (not an image set)")
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: cannot read ({type(exc).__name__}: {exc}); the file is corrupt or truncated, "
                        "download it again") from None
    return raw


def parse_idx(raw: bytes, what: str = "IDX data") -> np.ndarray:
    """Parse IDX bytes (already decompressed) into an array of the stored type and shape."""
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise DataError(f"{what} is not an IDX file (bad magic {raw[:4]!r})")
    ndim = raw[3]
    if ndim == 0 or len(raw) < 4 + 4 * ndim:
        raise DataError(f"{what}: truncated IDX header")
    shape = struct.unpack(f">{ndim}i", raw[4:4 + 4 * ndim])
    if any(n <= 0 for n in shape):
        raise DataError(f"{what}: IDX header has a zero or negative dimension {shape}")
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    count = math.prod(shape)   # exact: np.prod would overflow int64 for hostile headers
    offset = 4 + 4 * ndim
    if len(raw) - offset != count * dtype.itemsize:
        raise DataError(f"{what}: header says {shape} of {dtype} ({count * dtype.itemsize} bytes) but "
                        f"{len(raw) - offset} data bytes follow (truncated or corrupt)")
    arr = np.frombuffer(raw, dtype=dtype, count=count, offset=offset).reshape(shape)
    return arr.astype(dtype.newbyteorder("="), copy=False)


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (raw or gzip-compressed)."""
    return parse_idx(_read_bytes(path), str(path))


def _idx_file(directory: pathlib.Path, stem: str) -> pathlib.Path | None:
    for cand in (directory / stem, directory / (stem + ".gz")):
        if cand.is_file():
            return cand
    # some distributions name the files with a dot (train-images.idx3-ubyte)
    dotted = stem.replace("-idx", ".idx")
    for cand in (directory / dotted, directory / (dotted + ".gz")):
        if cand.is_file():
            return cand
    return None


def _complete(directory: pathlib.Path) -> bool:
    return directory.is_dir() and all(_idx_file(directory, s) is not None for s in IDX_STEMS)


def cache_dir() -> pathlib.Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return pathlib.Path(base) / "convergence"


def find_idx_dir(name: str, data_dir: str | os.PathLike[str] | None = None) -> pathlib.Path | None:
    """The directory holding the four IDX files of ``name`` (see module docstring), or None."""
    if name not in NAMES:
        raise ConfigError(f"dataset must be one of {', '.join(NAMES)} or auto (got {name!r})")
    if data_dir is not None and not os.fspath(data_dir):
        raise DataUnavailable("--data-dir: empty path")
    if data_dir is not None and not os.path.isdir(data_dir):
        raise DataUnavailable(f"--data-dir {data_dir} is not a folder")
    # an explicit data_dir is the only place looked in: never a silent fallback to another data set
    roots = [pathlib.Path(p) for p in ((data_dir,) if data_dir is not None else (os.environ.get(ENV_VAR),)) if p]
    cands: list[pathlib.Path] = []
    for root in roots:
        cands += [root / name, root / name.replace("-", "_"), root / name.replace("-", ""), root]
    if data_dir is None:
        cands.append(cache_dir() / name)
        if name == "fashion-mnist":
            cands.append(DEBIAN_FASHION_MNIST)
    for c in cands:
        if _complete(c):
            if c in roots and not _looks_like(c, name):
                continue
            return c
    return None


def _looks_like(directory: pathlib.Path, name: str) -> bool:
    """A bare data dir is accepted for ``name`` unless its path names the other dataset."""
    low = str(directory).lower()
    if name == "mnist":
        return "fashion" not in low
    return True


def available(data_dir: str | os.PathLike[str] | None = None) -> dict[str, str | None]:
    """Which of MNIST / Fashion-MNIST are found (name -> directory or None)."""
    return {n: (str(d) if (d := find_idx_dir(n, data_dir)) else None) for n in NAMES}


def load_mnist_like(name: str = "auto", data_dir: str | os.PathLike[str] | None = None) -> ImageData:
    """Load MNIST or Fashion-MNIST (``auto``: MNIST if present, else Fashion-MNIST)."""
    order = list(NAMES) if name == "auto" else [name]
    for n in order:
        d = find_idx_dir(n, data_dir)
        if d is None:
            continue
        files = [_idx_file(d, s) for s in IDX_STEMS]
        xtr, ytr, xte, yte = (read_idx(f) for f in files)  # type: ignore[arg-type]
        for f, x in ((files[0], xtr), (files[2], xte)):
            if x.ndim != 3 or x.shape[1:] != (28, 28) or x.dtype != np.uint8:
                raise DataError(f"{f}: expected uint8 images of 28 x 28 pixels (got {x.dtype} {x.shape})")
        for f, y, x in ((files[1], ytr, xtr), (files[3], yte, xte)):
            if y.ndim != 1 or len(y) != len(x) or not np.issubdtype(y.dtype, np.integer):
                raise DataError(f"{f}: expected {len(x)} integer labels (got {y.dtype} {y.shape})")
            if y.min() < 0 or y.max() > 9:
                raise DataError(f"{f}: labels must lie in 0..9 (got {int(y.min())}..{int(y.max())})")
        return ImageData(n, str(d), xtr, ytr.astype(np.int64), xte, yte.astype(np.int64))
    wanted = {"auto": "MNIST or Fashion-MNIST", "mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}.get(name, name)
    subfolders = "mnist/ or fashion-mnist/ subfolder" if name == "auto" else f"{name}/ subfolder"
    if data_dir is not None:
        raise DataUnavailable(f"No {wanted} IDX files in --data-dir {data_dir} (nor in its {subfolders}). "
                              f"{_how_to_get(name)}")
    looked = [f"${ENV_VAR}"] + [str(cache_dir() / n) for n in order]
    if "fashion-mnist" in order:
        looked.append(str(DEBIAN_FASHION_MNIST))
    raise DataUnavailable(f"No {wanted} data found (looked in {', '.join(looked)}). {_how_to_get(name)}")


def prepare(data: ImageData, *, n_train: int | None = None, n_test: int | None = None, flatten: bool = True,
            seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Float32 inputs in [0, 1] (``ToTensor``), optionally a class-stratified random subsample.

    Returns ``x_train, y_train, x_test, y_test`` with x (N, H·W) if ``flatten`` else (N, 1, H, W).
    """
    rng = np.random.default_rng(seed)

    def pick(x: np.ndarray, y: np.ndarray, n: int | None) -> tuple[np.ndarray, np.ndarray]:
        if n is None or n >= len(y):
            return x, y
        idx = np.sort(rng.permutation(len(y))[:n])
        return x[idx], y[idx]

    xtr, ytr = pick(data.x_train, data.y_train, n_train)
    xte, yte = pick(data.x_test, data.y_test, n_test)

    def conv(x: np.ndarray) -> np.ndarray:
        x = x.astype(np.float32) * np.float32(1 / 255)
        if flatten:
            return x.reshape(len(x), -1)
        return x.reshape(len(x), 1, *x.shape[1:]) if x.ndim == 3 else x

    return conv(xtr), ytr, conv(xte), yte


# -- MNIST download ------------------------------------------------------------------------------

def _md5(path: pathlib.Path) -> str:
    h = hashlib.md5()  # noqa: S324 - integrity pin published with the dataset, not security
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _urllib_fetch(url: str, md5: str, dest: pathlib.Path) -> pathlib.Path:
    """Download ``url`` (http(s) or file://) to ``dest`` and check its MD5; atomic."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as src:  # noqa: S310
            shutil.copyfileobj(src, out)
        got = _md5(pathlib.Path(tmp))
        if got != md5:
            raise ConfigError(f"{url}: MD5 {got} does not match the pinned {md5} (corrupt or wrong file)")
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dest


def _pooch_fetch(url: str, md5: str, dest: pathlib.Path) -> pathlib.Path:
    import pooch  # optional; only for http(s) downloads

    pooch.get_logger().setLevel("WARNING")   # its "Downloading ..." notice would be a second line on failure
    path = pooch.retrieve(url, known_hash=f"md5:{md5}", fname=dest.name, path=dest.parent, progressbar=False)
    return pathlib.Path(path)


def fetch_mnist(dest: str | os.PathLike[str] | None = None, *, base_url: str = MNIST_URL,
                fetch: Callable[[str, str, pathlib.Path], pathlib.Path] | None = None) -> pathlib.Path:
    """Download the four MNIST archives (pinned MD5) into ``dest`` (default the cache dir); returns it.

    Uses pooch for http(s) URLs when it is installed, else urllib (which also serves ``file://``
    mirrors); both verify the pinned hashes. Files already present with the right hash are kept.
    """
    out = pathlib.Path(dest) if dest is not None else cache_dir() / "mnist"
    for folder in (out, *out.parents):   # checked before any download: a file in the way cannot hold one
        if folder.exists():
            if not folder.is_dir():
                raise ConfigError(f"{folder} is not a folder, so MNIST cannot be saved in {out}")
            break
    for fname, md5 in MNIST_FILES.items():
        target = out / fname
        if target.is_file() and _md5(target) == md5:
            continue
        url = base_url.rstrip("/") + "/" + fname
        fn = fetch
        if fn is None:
            fn = _urllib_fetch
            if url.startswith(("http://", "https://")):
                try:
                    import pooch  # noqa: F401
                    fn = _pooch_fetch
                except ImportError:
                    pass
        try:
            fn(url, md5, target)
        except ConfigError:
            raise
        except Exception as exc:  # noqa: BLE001 - network errors of any kind become one message
            raise DataUnavailable(f"could not download {url} ({type(exc).__name__}: {exc}). {HOW_TO_GET}") from exc
    return out


# -- CIFAR -----------------------------------------------------------------------------------

_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load global {module}.{name} from a data pickle")


def safe_unpickle(raw: bytes) -> Any:
    """Unpickle data-only pickles (dicts, lists, bytes, numbers, numpy arrays); refuse anything else."""
    return _RestrictedUnpickler(io.BytesIO(raw), encoding="bytes").load()


def _key(d: dict[Any, Any], *names: str) -> Any:
    for n in names:
        for k in (n.encode(), n):
            if k in d:
                return d[k]
    raise ConfigError(f"CIFAR batch lacks any of the keys {names}")


def _cifar_batch(raw: bytes, label_key: str, what: str, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    try:
        d = safe_unpickle(raw)
    except pickle.UnpicklingError as exc:
        raise DataError(f"{what}: refused or corrupt pickle ({exc})") from None
    except Exception as exc:  # noqa: BLE001 - any failure to decode hostile bytes is a data error
        raise DataError(f"{what}: corrupt pickle ({type(exc).__name__}: {exc})") from None
    if not isinstance(d, dict):
        raise DataError(f"{what}: not a CIFAR batch (a pickled dict)")
    try:
        x = np.asarray(_key(d, "data"), dtype=np.uint8)
        y = np.asarray(_key(d, label_key), dtype=np.int64)
    except (TypeError, ValueError, OverflowError) as exc:
        raise DataError(f"{what}: data or labels are not numeric arrays ({exc})") from None
    if x.ndim != 2 or x.shape[1] != 3072 or len(y) != len(x) or len(x) == 0:
        raise DataError(f"{what}: expected data (N, 3072) with N >= 1 and N labels (got {x.shape}, {y.shape})")
    if y.ndim != 1 or y.min() < 0 or y.max() >= n_classes:
        raise DataError(f"{what}: labels must lie in 0..{n_classes - 1} (got {y.min()}..{y.max()})")
    return x.reshape(-1, 3, 32, 32), y


def load_cifar(path: str | os.PathLike[str], *, coarse: bool = False) -> ImageData:
    """Load CIFAR-10 (``cifar-10-batches-py``) or CIFAR-100 (``cifar-100-python``) python-format data.

    ``path``: the ``.tar.gz`` archive as distributed, or the extracted directory. Images come back
    as uint8 (N, 3, 32, 32); CIFAR-100 labels are the fine labels unless ``coarse``.
    """
    p = pathlib.Path(path)
    if not p.exists():
        raise DataUnavailable(f"CIFAR data not found at {p}. Download cifar-10-python.tar.gz or "
                              "cifar-100-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html "
                              "and pass its path (archive or extracted directory).")
    members: dict[str, bytes] = {}
    if p.is_file():
        try:
            with tarfile.open(p, "r:*") as tar:
                for m in tar.getmembers():
                    if m.isfile():
                        f = tar.extractfile(m)
                        if f is not None:
                            members[pathlib.PurePosixPath(m.name).name] = f.read()
        except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
            why = " ".join(str(exc).split())
            raise DataError(f"{p}: not a readable CIFAR tar archive ({type(exc).__name__}: {why})") from None
    else:
        for sub in [p, *[c for c in p.iterdir() if c.is_dir()]]:
            for f in sub.iterdir():
                if f.is_file() and f.name not in members:
                    members[f.name] = f.read_bytes()
    if "data_batch_1" in members:
        name = "cifar-10"
        train = [f"data_batch_{i}" for i in range(1, 6) if f"data_batch_{i}" in members]
        test, label_key = "test_batch", "labels"
    elif "train" in members and "test" in members:
        name = "cifar-100"
        train, test, label_key = ["train"], "test", "coarse_labels" if coarse else "fine_labels"
    else:
        raise ConfigError(f"{p}: neither a CIFAR-10 (data_batch_*) nor a CIFAR-100 (train/test) python archive")
    if test not in members:
        raise ConfigError(f"{p}: missing {test}")
    n_classes = 10 if name == "cifar-10" else 20 if coarse else 100
    parts = [_cifar_batch(members[b], label_key, f"{p}: {b}", n_classes) for b in train]
    xte, yte = _cifar_batch(members[test], label_key, f"{p}: {test}", n_classes)
    return ImageData(name, str(p), np.concatenate([a for a, _ in parts]), np.concatenate([b for _, b in parts]),
                     xte, yte)


def main(argv: list[str] | None = None) -> int:
    """``python -m convergence.nn.data [status|fetch-mnist]``."""
    import argparse
    ap = argparse.ArgumentParser(prog="python -m convergence.nn.data")
    ap.add_argument("command", choices=["status", "fetch-mnist"], nargs="?", default="status")
    ap.add_argument("--data-dir", default=None)
    args = ap.parse_args(argv)
    try:
        if args.command == "fetch-mnist":
            print(fetch_mnist(args.data_dir))
            return 0
        for n, d in available(args.data_dir).items():
            print(f"{n}: {d or 'not found'}")
        if not any(available(args.data_dir).values()):
            print(HOW_TO_GET)
        return 0
    except ConfigError as exc:
        print(f"error: {exc}")
        return 2


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
