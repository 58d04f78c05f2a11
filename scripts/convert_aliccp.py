"""Convert the raw Ali-CCP files (the ESMM paper's data) into a data folder of this project.

    python scripts/convert_aliccp.py RAW_DIR data/aliccp

    python scripts/convert_aliccp.py RAW_DIR data/aliccp_bags --multi-valued --bag-length 50

RAW_DIR holds `sample_skeleton_{train,test}.csv` and `common_features_{train,test}.csv`,
extracted or inside the release's `.tar.gz` archives (read without extracting them). The
conversion streams, prints its progress on stderr
and resumes where it stopped when run again with the same arguments (see
`mtl_lib.datasets.aliccp`). `--multi-valued` also keeps the four multi-valued fields (the
user's past categories, shops, brands and intention nodes) as bag columns.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from mtl_lib.datasets import aliccp


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("raw_dir", type=Path, help="folder of the raw Ali-CCP csv files")
    parser.add_argument("out_dir", type=Path, help="data folder to write")
    parser.add_argument(
        "--fields",
        default=",".join(aliccp.PUBLIC_FIELDS),
        help="comma-separated field ids to keep (default: the public preprocessing's 18)",
    )
    parser.add_argument("--min-count", type=int, default=aliccp.MIN_COUNT)
    parser.add_argument("--valid-fraction", type=float, default=0.1)
    parser.add_argument(
        "--drop-inconsistent",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="drop exposures with a conversion but no click (default), or stop on one",
    )
    parser.add_argument(
        "--multi-valued",
        action="store_true",
        help="also keep the four multi-valued fields, as bag columns (default: dropped)",
    )
    parser.add_argument(
        "--bag-length",
        type=int,
        default=aliccp.BAG_LENGTH,
        help="with --multi-valued, the most ids a bag keeps (its first ones)",
    )
    parser.add_argument("--shard-rows", type=int, default=1_000_000)
    parser.add_argument("--chunk-rows", type=int, default=20_000)
    parser.add_argument("--keep-work", action="store_true", help="keep OUT_DIR/_work")
    parser.add_argument("--quiet", action="store_true", help="no progress line")
    args = parser.parse_args(argv)
    report = aliccp.convert_aliccp(
        args.raw_dir,
        args.out_dir,
        fields=args.fields.split(","),
        min_count=args.min_count,
        valid_fraction=args.valid_fraction,
        drop_inconsistent=args.drop_inconsistent,
        multi_valued=args.multi_valued,
        bag_length=args.bag_length,
        shard_rows=args.shard_rows,
        chunk_rows=args.chunk_rows,
        keep_work=args.keep_work,
        progress=not args.quiet,
    )
    for split, rows in report.rows.items():
        clicks, purchases = report.positives[split].values()
        print(f"{split}: {rows:,} rows, {clicks:,} clicks, {purchases:,} purchases")
    if report.multi_valued:
        cut = ", ".join(f"{column} {n:,}" for column, n in report.truncated.items() if n)
        print(f"rows whose bag was cut to {report.bag_length} ids: {cut or 'none'}")
    print(
        f"dropped (conversion without click): {report.dropped}; "
        f"wrote {args.out_dir} in {report.seconds:,.0f} s"
    )


if __name__ == "__main__":
    main()
