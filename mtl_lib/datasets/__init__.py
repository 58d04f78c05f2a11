"""Real data sets, downloaded with a checksum into a cache and encoded for `mtl_lib.models`.

- `mtl_lib.datasets.census`: UCI Census-Income (KDD), the MMoE paper's benchmark
  (`load_census`, `download`, `place_local_copy`).
"""

from mtl_lib.datasets import census
from mtl_lib.datasets.census import CensusSplits, load_census, place_local_copy

__all__ = ["CensusSplits", "census", "load_census", "place_local_copy"]
