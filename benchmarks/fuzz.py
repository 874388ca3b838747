"""Fuzz every input loader with random and mutated files for a fixed time.

    python benchmarks/fuzz.py [--seconds 60] [--seed 0] [--only LOADER] [--save DIR]

Loaders (in this process): scenario (``load_scenario``: every section validated),
sweep (``load_sweep`` + base resolution and point expansion), trace
(``workloads.trace.load``), topology (``topologies.from_yaml``), the ASTRA-sim
network reader, and the Chakra ET and Kineto importers. Seeds are the files the
project ships (scenario presets, sweep files, example traces, fixtures); each
input is a seed mutated at the byte level (flips, inserts, cuts, splices), at the
structure level (a value replaced by NaN, a huge number, a deep list, a long
string, a wrong type; a key dropped, renamed or repeated), re-encoded (latin-1,
UTF-16), wrapped in an alias bomb, or plain random bytes.

An outcome is a *success* (the loader returned), a *clean error* (an InputError or
TopologyError whose message is one line of at most 600 characters: what the CLI
prints with exit status 2), or *anything else* (another exception, a multi-line
or huge message, more than ``--case-timeout`` seconds, or running out of memory),
which must be 0. Prints one row per loader; ``--save`` keeps the inputs of
*anything else* for reproduction. The time budget is split evenly over loaders.
"""
from __future__ import annotations

import argparse
import json
import math
import random
import resource
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from topologies.errors import TopologyError  # noqa: E402
from workloads.errors import InputError  # noqa: E402

MAX_MESSAGE = 600
WEIRD = [float("nan"), float("inf"), -float("inf"), -1, 0, 1e308, 10**30, 2**63, -2**63,
         "", "x" * 5000, "\u00e9\u2603\U0001f600", None, True, False, [], {}, [[[[[]]]]],
         {"a": {"b": {"c": 1}}}, 0.5, 1e-300, "1e9", "nan", [1, 2, 3], 3.7]


class Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise Timeout()


# -- loaders ----------------------------------------------------------------------------

def load_scenario_file(path: Path):
    from sim.scenario.load import load_scenario
    return load_scenario(str(path))


def load_sweep_file(path: Path):
    from sim.sweep.point import resolve_base
    from sim.sweep.spec import expand_points, load_sweep
    spec = load_sweep(path)
    resolve_base(spec, path)
    n = math.prod(len(v) for v in spec.grid.values()) * max(1, len(spec.seeds or []))
    return expand_points(spec) if n <= 10_000 else n


def load_trace_file(path: Path):
    from workloads.trace import load
    return load(path)


def load_topology_file(path: Path):
    import topologies
    return topologies.from_yaml(path)


def load_astra_file(path: Path):
    from topologies.astra import load_astra_network
    return load_astra_network(path)


def load_chakra_files(path: Path):
    from workloads.importers.chakra import load_chakra
    return load_chakra(str(path.parent / "job"))


def load_kineto_file(path: Path):
    from workloads.importers.kineto import load_kineto
    return load_kineto([str(path)])


def seeds() -> dict[str, tuple[callable, str, list[bytes]]]:
    """loader name -> (loader, file name to write, seed inputs)."""
    def read(paths):
        return [p.read_bytes() for p in paths if p.is_file()]
    examples = ROOT / "workloads" / "examples"
    topo = (b"name: two\ngpus_per_node: 1\nnodes:\n  - {id: 0, kind: gpu}\n"
            b"  - {id: 1, kind: gpu}\n  - {id: sw, kind: switch}\nlinks:\n"
            b"  - {a: 0, b: sw, bw_gbps: 400, latency_us: 1, kind: ib}\n"
            b"  - {a: 1, b: sw, bw_gbps: 400, latency_us: 1, kind: ib}\n")
    # ASTRA-sim's own examples give the network as JSON, tab-indented
    astra_json = (b'{\n\t"topology": ["Ring", "Switch"],\n\t"npus_count": [4, 2],\n'
                  b'\t"bandwidth": [200.0, 25.0],\n\t"latency": [500.0, 1000.0]\n}\n')
    return {
        "scenario": (load_scenario_file, "s.yaml",
                     read(sorted((ROOT / "sim" / "data" / "scenarios").glob("*.yaml")))),
        "sweep": (load_sweep_file, "w.yaml",
                  read(sorted((ROOT / "sim" / "data" / "sweeps").glob("*.yaml")))),
        "trace": (load_trace_file, "t.json", read(sorted(examples.glob("*.json")))),
        "topology": (load_topology_file, "n.yaml", [topo]),
        "astra network": (load_astra_file, "n.yml",
                          read(sorted((examples / "chakra").glob("*.yml")))
                          + [astra_json]),
        "chakra": (load_chakra_files, "job.0.et",
                   read([examples / "chakra" / "allreduce_1g.0.et"])),
        "kineto": (load_kineto_file, "k.json",
                   read(sorted((ROOT / "tests" / "data" / "kineto").glob("*.json")))),
    }


# -- mutations --------------------------------------------------------------------------

def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in list(node.items())[:50]:
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node[:20]):
            yield from _paths(v, prefix + (i,))


def _structural(rng: random.Random, data, is_json: bool) -> bytes | None:
    paths = [p for p in _paths(data) if p]
    if not paths:
        return None
    path = rng.choice(paths)
    parent = data
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    move = rng.random()
    if move < 0.55:
        parent[last] = rng.choice(WEIRD)
    elif move < 0.7 and isinstance(parent, dict):
        del parent[last]
    elif move < 0.8 and isinstance(parent, dict):
        parent[f"{last}_x"] = parent[last]
    elif move < 0.9:
        parent[last] = [parent[last]] * rng.randint(2, 5000)
    else:
        depth = rng.choice([50, 100, 2000])
        parent[last] = json.loads("[" * depth + "]" * depth) if depth < 900 else "DEEP"
    if is_json:
        text = json.dumps(data, allow_nan=True)
    else:
        text = yaml.safe_dump(data, default_flow_style=rng.random() < 0.5, width=1 << 20)
        if move < 0.8 and isinstance(parent, dict) and rng.random() < 0.2:
            text += f"{path[0]}: null\n" if isinstance(path[0], str) else ""   # repeated key
    return text.replace('"DEEP"', "[" * 5000 + "]" * 5000).replace(
        "DEEP", "[" * 5000 + "]" * 5000).encode()


def _bytes(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        move = rng.random()
        pos = rng.randrange(len(b) + 1)
        if move < 0.3 and b:
            b[min(pos, len(b) - 1)] = rng.randrange(256)
        elif move < 0.5:
            b[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
        elif move < 0.7:
            del b[pos:pos + rng.randint(1, 64)]
        elif move < 0.85 and b:
            j = rng.randrange(len(b))
            b[pos:pos] = b[j:j + rng.randint(1, 256)]
        else:
            b[pos:pos] = rng.choice([b"\x00", b"\xff\xfe", b": &a [*a]", b"\n  - ", b'{"',
                                     b"NaN", b"1e999", b"-1", b"!!python/object:os.system",
                                     b"<<: ", b"\t", b"\r\n"])
    return bytes(b)


def _bomb(text: bytes) -> bytes:
    head = ['a0: &a0 ["l","l","l","l","l","l","l","l","l"]']
    head += [f"a{i}: &a{i} [{','.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    return ("\n".join(head) + "\n").encode() + text + b"\nextra: *a8\n"


def mutate(rng: random.Random, seed: bytes, name: str) -> bytes:
    kind = rng.random()
    if kind < 0.05:
        return bytes(rng.randrange(256) for _ in range(rng.randint(0, 2000)))
    if kind < 0.1:
        return seed.decode("utf-8", "replace").encode(rng.choice(["latin-1", "utf-16",
                                                                  "utf-32"]), "replace")
    if kind < 0.13 and not name.endswith((".json", ".et")):
        return _bomb(seed)
    if kind < 0.55 and not name.endswith(".et"):
        try:
            is_json = name.endswith(".json")
            data = json.loads(seed) if is_json else yaml.safe_load(seed)
            out = _structural(rng, data, is_json)
            if out is not None:
                return out
        except Exception:               # a seed the mutator cannot parse: bytes instead
            pass
    return _bytes(rng, seed)


# -- the run ----------------------------------------------------------------------------

def classify(loader, path: Path, timeout: float) -> tuple[str, str]:
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        loader(path)
        return "ok", ""
    except (InputError, TopologyError) as e:
        text = str(e)
        if "\n" in text or len(text) > MAX_MESSAGE:
            return "other", f"message of {len(text)} chars / {text.count(chr(10)) + 1} lines"
        return "clean", text
    except Timeout:
        return "other", f"no answer in {timeout:g} s"
    except MemoryError:
        return "other", "MemoryError"
    except Exception as e:              # noqa: BLE001 - this is what we count
        tb = traceback.extract_tb(e.__traceback__)[-1]
        return "other", f"{type(e).__name__}: {str(e)[:120]} ({tb.filename}:{tb.lineno})"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0, help="total time budget")
    ap.add_argument("--seed", type=int, default=0, help="seed of the mutations")
    ap.add_argument("--only", default=None, help="fuzz one loader only")
    ap.add_argument("--case-timeout", type=float, default=10.0, help="seconds per input")
    ap.add_argument("--save", default=None, metavar="DIR", help="keep failing inputs here")
    args = ap.parse_args(argv)
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
    signal.signal(signal.SIGALRM, _alarm)
    table = {k: v for k, v in seeds().items() if not args.only or k == args.only}
    rng = random.Random(args.seed)
    budget = args.seconds / max(1, len(table))
    rows, bad = [], []
    with tempfile.TemporaryDirectory(prefix="fuzz-") as tmp:
        for name, (loader, fname, seed_inputs) in table.items():
            if not seed_inputs:
                rows.append((name, 0, 0, 0, 0, "no seed files"))
                continue
            counts = {"ok": 0, "clean": 0, "other": 0}
            end = time.monotonic() + budget
            folder = Path(tmp) / name.replace(" ", "_")
            folder.mkdir()
            path = folder / fname
            # the other rank of a Chakra job stays intact; the first file is mutated
            if name == "chakra":
                (folder / "job.1.et").write_bytes(seed_inputs[0])
            while time.monotonic() < end:
                data = mutate(rng, rng.choice(seed_inputs), fname)
                path.write_bytes(data)
                outcome, note = classify(loader, path, args.case_timeout)
                counts[outcome] += 1
                if outcome == "other":
                    bad.append((name, note))
                    if args.save:
                        keep = Path(args.save) / f"{name.replace(' ', '_')}-{len(bad)}-{fname}"
                        keep.parent.mkdir(parents=True, exist_ok=True)
                        keep.write_bytes(data)
            rows.append((name, sum(counts.values()), counts["clean"], counts["ok"],
                         counts["other"], ""))
    print(f"{'loader':<14} {'inputs':>7} {'clean errors':>12} {'successes':>9} "
          f"{'anything else':>13}")
    for name, n, clean, ok, other, note in rows:
        print(f"{name:<14} {n:>7} {clean:>12} {ok:>9} {other:>13}  {note}".rstrip())
    total = [sum(r[i] for r in rows) for i in range(1, 5)]
    print(f"{'total':<14} {total[0]:>7} {total[1]:>12} {total[2]:>9} {total[3]:>13}")
    for name, note in bad[:20]:
        print(f"  {name}: {note}")
    return 1 if total[3] else 0


if __name__ == "__main__":
    sys.exit(main())
