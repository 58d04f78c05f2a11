"""Generate the shipped funnel sample in `data/funnel/` (`make data`).

The same seed always gives byte-identical files (`mtl_lib.datasets.funnel.generate`, which
also makes the copy of an installed package); `SHA256SUMS` records the checksum of each
file's decompressed text, which `tests/test_shipped_data.py` compares after regenerating,
and is copied beside the package's module as package data.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mtl_lib.datasets.funnel import CHECKSUMS, SPLITS, generate

ROOT = Path(__file__).resolve().parents[1]
PACKAGED = ROOT / "mtl_lib" / "datasets" / "funnel.SHA256SUMS"
"""The same checksums, shipped with the package (`mtl.datasets.funnel_folder` checks them)."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "data" / "funnel")
    args = parser.parse_args()
    sums = generate(args.out)
    lines = [f"{digest}  {name}\n" for name, digest in sorted(sums.items())]
    (args.out / CHECKSUMS).write_text("".join(lines))
    if args.out.resolve() == (ROOT / "data" / "funnel").resolve():  # the shipped sample
        PACKAGED.write_text("".join(lines))
    print(f"wrote {len(SPLITS)} splits and the schema to {args.out}")


if __name__ == "__main__":
    main()
