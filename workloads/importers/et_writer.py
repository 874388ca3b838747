"""Writing Chakra execution traces (for fixtures, examples and what-if workloads).

Follows the public Chakra schema (:mod:`workloads.importers.et_schema`): each
file is a GlobalMetadata message then Node messages, each preceded by its
length as a varint. Two workloads are built in:

* ``allreduce``: one all-reduce of ``--bytes`` on every rank;
* ``dp``: a data-parallel training loop: per iteration a forward chain over
  the layers, a backward chain in reverse, and one gradient all-reduce per
  layer issued as soon as that layer's backward finishes (so it overlaps the
  rest of the backward pass); the next iteration's forward of a layer waits
  for its all-reduce.

    python -m workloads.importers.et_writer allreduce --ranks 8 --bytes 1G OUT/allreduce
    python -m workloads.importers.et_writer dp --ranks 1024 OUT/dp
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from workloads.importers import et_schema as S

VERSION = "0.0.4"


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _set_attr(a, name: str, value) -> None:
    a.name = name
    if isinstance(value, bool):
        a.bool_val = value
    elif isinstance(value, int):
        a.int64_val = value
    elif isinstance(value, float):
        a.double_val = value
    else:
        a.string_val = str(value)


def node(nid: int, name: str, ntype: int, *, data_deps=(), ctrl_deps=(),
         duration_us: int = 0, **attrs) -> bytes:
    """One serialised Node; ``attrs`` become AttributeProtos (int -> int64_val)."""
    _, Node, _ = S.messages()
    n = Node(id=nid, name=name, type=ntype, duration_micros=int(duration_us))
    n.data_deps.extend(data_deps)
    n.ctrl_deps.extend(ctrl_deps)
    for k, v in attrs.items():
        _set_attr(n.attr.add(), k, v)
    return n.SerializeToString()


def et_bytes(nodes: list[bytes], version: str = VERSION) -> bytes:
    Meta, _, _ = S.messages()
    msgs = [Meta(version=version).SerializeToString()] + list(nodes)
    return b"".join(_varint(len(m)) + m for m in msgs)


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_et(path: str | Path, nodes: list[bytes], version: str = VERSION) -> None:
    _write(Path(path), et_bytes(nodes, version))


def write_all_ranks(prefix: str | Path, ranks: int, nodes: list[bytes]) -> list[Path]:
    """The same node list for every rank: ``<prefix>.<r>.et``."""
    data = et_bytes(nodes)
    paths = [Path(f"{prefix}.{r}.et") for r in range(ranks)]
    for p in paths:
        _write(p, data)
    return paths


def allreduce_nodes(nbytes: int) -> list[bytes]:
    return [node(0, "all_reduce", S.COMM_COLL_NODE, comm_type=S.COLLECTIVE_TYPES["ALL_REDUCE"],
                 comm_size=int(nbytes))]


def dp_nodes(layers: int = 8, iterations: int = 2, fwd_us: int = 100, bwd_us: int = 200,
             grad_bytes: int = 16 * 2**20) -> list[bytes]:
    """Data-parallel training loop (see the module docstring)."""
    out = []
    nid = 0
    prev = None                       # last compute node (the compute chain)
    last_ar: dict[int, int] = {}      # layer -> its all-reduce in the previous iteration
    for it in range(iterations):
        for layer in range(layers):
            deps = ([prev] if prev is not None else []) + (
                [last_ar[layer]] if layer in last_ar else [])
            out.append(node(nid, f"it{it}.fwd{layer}", S.COMP_NODE, data_deps=deps,
                            duration_us=fwd_us, is_cpu_op=False))
            prev, nid = nid, nid + 1
        for layer in reversed(range(layers)):
            out.append(node(nid, f"it{it}.bwd{layer}", S.COMP_NODE, data_deps=[prev],
                            duration_us=bwd_us, is_cpu_op=False))
            prev, nid = nid, nid + 1
            out.append(node(nid, f"it{it}.ar{layer}", S.COMM_COLL_NODE, data_deps=[prev],
                            comm_type=S.COLLECTIVE_TYPES["ALL_REDUCE"], comm_size=int(grad_bytes)))
            last_ar[layer], nid = nid, nid + 1
    return out


def main(argv: list[str] | None = None) -> int:
    from sim.cli import _size   # the CLI's size parser (1G, 16M, ...)
    p = argparse.ArgumentParser(prog="python -m workloads.importers.et_writer",
                                description="write a Chakra ET workload, one file per rank")
    sub = p.add_subparsers(dest="kind", required=True)
    a = sub.add_parser("allreduce", help="one all-reduce per rank")
    a.add_argument("--bytes", type=_size, default=2**30)
    d = sub.add_parser("dp", help="data-parallel training loop")
    d.add_argument("--layers", type=int, default=8)
    d.add_argument("--iterations", type=int, default=2)
    d.add_argument("--fwd-us", type=int, default=100)
    d.add_argument("--bwd-us", type=int, default=200)
    d.add_argument("--grad-bytes", type=_size, default=16 * 2**20)
    for q in (a, d):
        q.add_argument("--ranks", type=int, default=8)
        q.add_argument("prefix", help="files are written as PREFIX.<rank>.et")
    args = p.parse_args(argv)
    if args.kind == "allreduce":
        nodes = allreduce_nodes(int(args.bytes))
    else:
        nodes = dp_nodes(args.layers, args.iterations, args.fwd_us, args.bwd_us,
                         int(args.grad_bytes))
    paths = write_all_ranks(args.prefix, args.ranks, nodes)
    print(f"wrote {len(paths)} files {args.prefix}.{{0..{len(paths) - 1}}}.et "
          f"({len(nodes)} nodes each)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
