"""Generate the shipped funnel sample in `data/funnel/` (`make data`).

The same seed always gives byte-identical files; `SHA256SUMS` records the checksum of each
file's decompressed text, which `tests/test_shipped_data.py` compares after regenerating.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
from pathlib import Path

from mtl_lib.synthetic import FunnelGenerator

SEED = 2018  # the year of the ESMM and MMoE papers
# train: enough clicks (~40k) and activations (~1k) to train every model in about a minute;
# test: 100k rows, so the rarest step (activate, 0.5 %) has ~500 positives and its AUC a
# standard error near 0.01; valid: for early stopping and model choice.
SPLITS = {"train": (200_000, 0), "valid": (50_000, 1), "test": (100_000, 2)}
CHECKSUMS = "SHA256SUMS"


def text_sha256(path: Path) -> str:
    """SHA-256 of a (gzipped) file's decompressed content, independent of the zlib build."""
    opener = gzip.open if path.suffix == ".gz" else open
    digest = hashlib.sha256()
    with opener(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def generate(out: Path) -> dict[str, str]:
    """Write the schema and the three splits into `out`; return name → checksum."""
    gen = FunnelGenerator(seed=SEED)
    gen.schema.save(out)
    sums = {}
    for name, (rows, stream) in SPLITS.items():
        path = gen.write_csv(out / f"{name}.csv.gz", rows, stream=stream)
        sums[path.name] = text_sha256(path)
    for name in ("features.csv", "vocab.json"):
        sums[name] = text_sha256(out / name)
    return sums


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("data/funnel"))
    args = parser.parse_args()
    sums = generate(args.out)
    lines = [f"{digest}  {name}\n" for name, digest in sorted(sums.items())]
    (args.out / CHECKSUMS).write_text("".join(lines))
    print(f"wrote {len(SPLITS)} splits and the schema to {args.out}")


if __name__ == "__main__":
    main()
