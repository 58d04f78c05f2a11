"""Real data sets encoded for `mtl_lib.models`: cached with a checksum, or read locally.

- `mtl_lib.datasets.census`: UCI Census-Income (KDD), the MMoE paper's benchmark
  (`load_census`, `download`, `place_local_copy`).
- `mtl_lib.datasets.aliexpress`: AliExpress search logs, the PLE/AITM/MTReclib click →
  conversion benchmark, read from local files (`load_aliexpress`).
- `mtl_lib.datasets.aliccp`: Ali-CCP, the ESMM paper's click → purchase data, converted
  from the released raw files into a data folder, streaming and resumable
  (`convert_aliccp`).
"""

from mtl_lib.datasets import aliccp, aliexpress, census
from mtl_lib.datasets.aliccp import AliCCPReport, convert_aliccp
from mtl_lib.datasets.aliexpress import AliExpressSplits, load_aliexpress
from mtl_lib.datasets.census import CensusSplits, load_census, place_local_copy

__all__ = [
    "AliCCPReport",
    "AliExpressSplits",
    "CensusSplits",
    "aliccp",
    "aliexpress",
    "census",
    "convert_aliccp",
    "load_aliexpress",
    "load_census",
    "place_local_copy",
]
