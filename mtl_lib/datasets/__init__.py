"""Data sets as `Splits`: real ones encoded for `mtl_lib.models`, and the splits container.

- `mtl_lib.datasets.splits`: `Splits`, the train, validation and test frames of any data
  set with its schema (from a data folder, frames, or a synthetic world).

- `mtl_lib.datasets.census`: UCI Census-Income (KDD), the MMoE paper's benchmark
  (`load_census`, `download`, `place_local_copy`).
- `mtl_lib.datasets.aliexpress`: AliExpress search logs, the PLE/AITM/MTReclib click →
  conversion benchmark, read from local files (`load_aliexpress`).
- `mtl_lib.datasets.aliccp`: Ali-CCP, the ESMM paper's click → purchase data, converted
  from the released raw files into a data folder, streaming and resumable
  (`convert_aliccp`).
- `mtl_lib.datasets.aliccp_files`: Ali-CCP from the processed files users hold (the AITM
  authors', torch-rechub's) or from the converter's folder, the format recognised by its
  files (`load_aliccp`).
- `mtl_lib.datasets.funnel`: the shipped funnel sample, found in a clone or generated once
  into a cache where only the package is installed (`funnel_folder`).
- `mtl_lib.datasets.encoding`: category codes to ids fitted on training rows
  (`Vocabulary`), and cell-by-cell checked numbers, shared by the loaders.
"""

from mtl_lib.datasets import (
    aliccp,
    aliccp_files,
    aliccp_samples,
    aliccp_tokens,
    aliexpress,
    census,
    encoding,
    funnel,
)
from mtl_lib.datasets.aliccp import AliCCPReport, convert_aliccp
from mtl_lib.datasets.aliccp_files import load_aliccp
from mtl_lib.datasets.aliccp_samples import write_aliccp_sample
from mtl_lib.datasets.aliexpress import load_aliexpress
from mtl_lib.datasets.census import load_census, place_local_copy
from mtl_lib.datasets.funnel import funnel_folder
from mtl_lib.datasets.splits import TEST_STREAM, Splits

__all__ = [
    "TEST_STREAM",
    "AliCCPReport",
    "Splits",
    "aliccp",
    "aliccp_files",
    "aliccp_samples",
    "aliccp_tokens",
    "aliexpress",
    "census",
    "convert_aliccp",
    "encoding",
    "funnel",
    "funnel_folder",
    "load_aliccp",
    "load_aliexpress",
    "load_census",
    "place_local_copy",
    "write_aliccp_sample",
]
