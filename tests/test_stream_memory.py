"""Training from a streamed file: peak memory does not grow with the file's size."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

import mtl_lib as mtl

SMALL, LARGE = 40_000, 400_000
CHILD = textwrap.dedent(
    """
    import json, resource, sys
    import mtl_lib as mtl

    path = sys.argv[1]
    schema = mtl.synthetic.FunnelGenerator(("click", "apply"), seed=0).schema
    data = mtl.data.make_dataset(path, schema, batch_size=1024, shuffle=True, seed=0,
                                 cache=False, shuffle_buffer=10_000)
    mtl.train.set_seed(0)
    model = mtl.train.compile_model(mtl.models.build_esmm(schema), schema.steps)
    history = mtl.train.fit(model, data, epochs=1)
    rows = history["examples_per_second"].iloc[0] * history["seconds"].iloc[0]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(json.dumps({"rows": round(rows), "peak_mib": peak}))
    """
)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stream_memory")
    gen = mtl.synthetic.FunnelGenerator(("click", "apply"), seed=0)
    large = gen.sample(LARGE, 0)
    paths = {}
    for rows in (SMALL, LARGE):
        paths[rows] = folder / f"train_{rows}.csv.gz"
        large.iloc[:rows].to_csv(paths[rows], index=False)
    return paths


def peak_of_one_epoch(path):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", TF_ENABLE_ONEDNN_OPTS="0")
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_streaming_ten_times_the_rows_keeps_the_same_peak_memory(files):
    small, large = peak_of_one_epoch(files[SMALL]), peak_of_one_epoch(files[LARGE])
    assert (small["rows"], large["rows"]) == (SMALL, LARGE)  # each read exactly once
    # Held in memory, 360,000 more rows of 30 columns would add well over 64 MiB.
    assert large["peak_mib"] - small["peak_mib"] < 64, (small, large)
