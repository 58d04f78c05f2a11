"""The shipped funnel sample, found wherever `mtl_lib` is installed.

The tutorials read the credit-card funnel in `data/funnel/` (exposure → click → apply →
approve → activate; `data/README.md` describes it). In a clone of the repository it is
there; where only the package is installed (a wheel, a hosted notebook service),
`funnel_folder` regenerates it once into a cache, byte for byte the shipped files (the
same generator and seed as `make data`), and checks every file against the checksums
shipped with the package before handing the folder out.

    DATA_DIR = mtl.datasets.funnel_folder()    # data/funnel, or the cache
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from mtl_lib.synthetic import FunnelGenerator

SEED = 2018  # the year of the ESMM and MMoE papers
"""The generator's seed of the shipped sample."""

SPLITS = {"train": (200_000, 0), "valid": (50_000, 1), "test": (100_000, 2)}
"""Split → (rows, row stream). Train: enough clicks (~40k) and activations (~1k) to train
every model in about a minute; test: 100k rows, so the rarest step (activate, 0.5 %) has
~500 positives and its AUC a standard error near 0.01; valid: for early stopping."""

CHECKSUMS = "SHA256SUMS"
"""The checksum file's name, in `data/funnel/` and beside this module (package data)."""

ENV = "MTL_DATA"
"""Environment variable naming a folder that holds (or will hold) `funnel/`."""

_SHIPPED_SUMS = Path(__file__).with_name("funnel.SHA256SUMS")
_CHECKOUT = Path(__file__).resolve().parents[2] / "data" / "funnel"


def text_sha256(path: Path) -> str:
    """SHA-256 of a (gzipped) file's decompressed content, independent of the zlib build."""
    opener = gzip.open if path.suffix == ".gz" else open
    digest = hashlib.sha256()
    with opener(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def generate(out: Path) -> dict[str, str]:
    """Write the schema and the three splits into `out`; return file name → checksum."""
    gen = FunnelGenerator(seed=SEED)
    gen.schema.save(out)
    sums = {}
    for name, (rows, stream) in SPLITS.items():
        path = gen.write_csv(out / f"{name}.csv.gz", rows, stream=stream)
        sums[path.name] = text_sha256(path)
    for name in ("features.csv", "vocab.json"):
        sums[name] = text_sha256(out / name)
    return sums


def read_checksums(path: Path) -> dict[str, str]:
    """A `SHA256SUMS` file's file name → checksum."""
    pairs = (line.split() for line in path.read_text().splitlines() if line.strip())
    return {name: digest for digest, name in pairs}


def shipped_checksums() -> dict[str, str]:
    """The checksums of the shipped sample, as packaged with `mtl_lib`."""
    return read_checksums(_SHIPPED_SUMS)


def funnel_folder(cache_dir: str | Path | None = None) -> Path:
    """The folder of the shipped funnel sample, made if need be.

    In order: `<$MTL_DATA>/funnel` if that variable is set; the repository's `data/funnel`
    when `mtl_lib` runs from a clone; else `<cache_dir>/funnel`, by default in Keras's
    cache (`$KERAS_HOME`, or `~/.keras`, then `datasets/mtl_lib`). A cache folder
    that does not hold the files yet is generated (about half a minute, once) and checked
    against the packaged checksums.

    Args:
        cache_dir: Where to keep a generated copy (default: Keras's cache, as above).

    Returns:
        The folder, for `mtl.data.Schema.load` or `mtl.experiment.Splits.load`.

    Raises:
        ValueError: if a folder's files do not match the shipped checksums (naming the
            file), so that a tutorial never trains on other data than it says.
    """
    expected = shipped_checksums()
    if os.environ.get(ENV):
        folder = Path(os.environ[ENV]) / "funnel"
    elif cache_dir is None and (_CHECKOUT / CHECKSUMS).is_file():
        return _CHECKOUT
    else:
        base = Path(cache_dir) if cache_dir is not None else _keras_cache()
        folder = base / "funnel"
    if not all((folder / name).is_file() for name in expected):
        _generate_into(folder)
    _verify(folder, expected)
    return folder


def _keras_cache() -> Path:
    home = os.environ.get("KERAS_HOME") or Path.home() / ".keras"
    return Path(home) / "datasets" / "mtl_lib"


def _generate_into(folder: Path) -> None:
    """Generate into a temporary sibling, then rename: no half-written folder under `folder`."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".funnel-", dir=folder.parent))
    try:
        sums = generate(work)
        lines = [f"{digest}  {name}\n" for name, digest in sorted(sums.items())]
        (work / CHECKSUMS).write_text("".join(lines))
        if folder.exists():
            shutil.rmtree(folder)
        work.rename(folder)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _verify(folder: Path, expected: dict[str, str]) -> None:
    for name, digest in expected.items():
        found = text_sha256(folder / name)
        if found != digest:
            raise ValueError(
                f"{folder / name}: checksum {found[:12]}… is not the shipped sample's "
                f"{digest[:12]}…; delete the folder to have it generated again"
            )
