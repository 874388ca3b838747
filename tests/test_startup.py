"""Start-up: small commands do not import the heavy libraries they do not use.

(Times are measured in benchmarks/bench_startup.py, not asserted here.)
"""
import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sim.network.routing import _hop_distances

ROOT = Path(__file__).resolve().parents[1]
EX = ROOT / "workloads" / "examples" / "chakra"
HEAVY = ("scipy", "pydantic", "matplotlib", "dask", "tqdm", "rich", "pandas", "networkx",
         "numpy.ma")


def _imported_after(argv):
    code = ("import sys, json, contextlib, io\n"
            "from sim.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            f"    rc = main({argv!r})\n"
            f"print(json.dumps([rc, [m for m in {HEAVY!r} if m in sys.modules]]))\n")
    p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout.splitlines()[-1])


def test_chakra_replay_imports_no_heavy_library():
    rc, heavy = _imported_after(["run", "--chakra", str(EX / "allreduce_1g"), "--network",
                                 str(EX / "switch_8.yml")])
    assert rc == 0 and heavy == []


def test_collective_command_imports_no_heavy_library():
    rc, heavy = _imported_after(["collective", "--op", "all_reduce", "--bytes", "1G",
                                 "--gpus", "8", "--topology", "a100-80gb"])
    assert rc == 0 and heavy == []


def test_switch_hop_distances_by_search_match_scipy():
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import shortest_path
    rng = random.Random(3)
    for n in (1, 7, 40, 64):
        succ = [[v for v in range(n) if v != u and rng.random() < 0.08] for u in range(n)]
        rows = [u for u in range(n) for _ in succ[u]]
        cols = [v for u in range(n) for v in succ[u]]
        ref = shortest_path(csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n)),
                            method="D", directed=True, unweighted=True)
        assert np.array_equal(_hop_distances(succ, rows, cols), ref)


def test_shipped_preset_files_read_the_same_by_the_fast_and_the_strict_loader():
    import topologies
    from topologies import _validate as v
    files = sorted((ROOT / "topologies" / "hardware").glob("*.yaml"))
    assert len(files) == 3
    for f in files:
        text = f.read_text()
        assert v.load_packaged_yaml(text, f.name) == v.load_yaml(text, f.name)
    with pytest.raises(topologies.TopologyError, match="x.yaml: not valid YAML: duplicate key "
                       "'a' \\(line 2"):
        v.load_packaged_yaml("a: 1\na: 2\n", "x.yaml")


def test_preset_tables_are_read_once_and_again_when_the_file_changes(tmp_path):
    import os

    import topologies
    f = tmp_path / "gpus.yaml"
    shipped = (ROOT / "topologies" / "hardware" / "gpus.yaml").read_text()
    f.write_text(shipped)
    names = topologies.list_gpus(f)
    assert names == topologies.list_gpus() and "a100-80gb" in names
    f.write_text(shipped + "\nextra-gpu:\n  nope: 1\n")
    st = f.stat()
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert "extra-gpu" in topologies.list_gpus(f)
    f.write_text("a: 1\na: 2\n")          # a user file goes through the strict reader
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 2 * 10**9))
    with pytest.raises(topologies.TopologyError, match="duplicate key"):
        topologies.list_gpus(f)
