"""Start-up: small commands do not import the heavy libraries they do not use.

(Times are measured in benchmarks/bench_startup.py, not asserted here.)
"""
import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np

from sim.network.routing import _hop_distances

ROOT = Path(__file__).resolve().parents[1]
EX = ROOT / "workloads" / "examples" / "chakra"
HEAVY = ("scipy", "pydantic", "matplotlib", "dask", "tqdm", "rich", "pandas")


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
