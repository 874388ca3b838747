"""Chakra ET files encoded byte by byte from the public schema, as other tools write them.

The encoder here knows only protobuf's wire format and the field numbers of
Chakra's public ``et_def.proto`` (package ChakraProtoMsg); it shares nothing
with the project's own ET writer or schema module, so the reader is checked
against the schema rather than against our own fixtures.
"""
import struct

import pytest

from sim.astra import run_chakra
from workloads.errors import InputError
from workloads.importers.chakra import load_chakra

GIB = 2**30

# et_def.proto: NodeType and CollectiveCommType numbers
METADATA, COMP, SEND, RECV, COLL, STORAGE = 1, 4, 5, 6, 7, 8
ALL_REDUCE, ALL_GATHER, REDUCE_SCATTER = 0, 2, 7
# AttributeProto's value oneof
ATTR_FIELD = {"double": 3, "float": 5, "int32": 7, "int64": 9, "uint32": 11, "uint64": 13,
              "sint32": 15, "sint64": 17, "fixed32": 19, "fixed64": 21, "sfixed32": 23,
              "sfixed64": 25, "bool": 27, "bool_list": 28, "string": 29, "int64_list": 10}


def varint(n: int) -> bytes:
    n &= (1 << 64) - 1                      # negative int32/int64: ten bytes, two's complement
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def tag(field: int, wire: int) -> bytes:
    return varint(field << 3 | wire)


def f_varint(field, n):
    return tag(field, 0) + varint(n)


def f_len(field, payload: bytes):
    return tag(field, 2) + varint(len(payload)) + payload


def f_str(field, s: str):
    return f_len(field, s.encode())


def zigzag(n: int) -> int:
    return (n << 1) ^ (n >> 63)


def attr(name: str, kind: str, value) -> bytes:
    num = ATTR_FIELD[kind]
    body = f_str(1, name)
    if kind in ("int32", "int64", "uint32", "uint64"):
        body += f_varint(num, value)
    elif kind in ("sint32", "sint64"):
        body += f_varint(num, zigzag(value))
    elif kind == "bool":
        body += f_varint(num, int(value))
    elif kind == "double":
        body += tag(num, 1) + struct.pack("<d", value)
    elif kind == "float":
        body += tag(num, 5) + struct.pack("<f", value)
    elif kind in ("fixed64", "sfixed64"):
        body += tag(num, 1) + struct.pack("<Q" if kind == "fixed64" else "<q", value)
    elif kind in ("fixed32", "sfixed32"):
        body += tag(num, 5) + struct.pack("<I" if kind == "fixed32" else "<i", value)
    elif kind == "string":
        body += f_str(num, value)
    elif kind in ("bool_list", "int64_list"):       # XxxList { repeated xxx values = 1; } packed
        body += f_len(num, f_len(1, b"".join(varint(int(v)) for v in value)))
    return f_len(10, body)                          # Node.attr = 10


def node(nid, name, ntype, *, data_deps=(), ctrl_deps=(), packed=True, duration_us=0,
         start_us=0, attrs=(), extra=b"") -> bytes:
    msg = f_varint(1, nid) + f_str(2, name) + f_varint(3, ntype)
    for field, deps in ((4, ctrl_deps), (5, data_deps)):
        if deps and packed:
            msg += f_len(field, b"".join(varint(d) for d in deps))
        else:
            msg += b"".join(f_varint(field, d) for d in deps)
    if start_us:
        msg += f_varint(6, start_us)
    if duration_us:
        msg += f_varint(7, duration_us)
    # IOInfo inputs/outputs (8, 9) as the PyTorch converter fills them
    msg += f_len(8, f_str(1, "[[1, 2]]") + f_str(2, "[[1024]]") + f_str(3, "['Tensor(float)']"))
    return msg + b"".join(attrs) + extra


def et_file(nodes, version="0.0.4") -> bytes:
    meta = f_str(1, version) + f_len(2, f_str(1, "schema") + f_str(29, "tool-x 1.2"))
    return b"".join(varint(len(m)) + m for m in [meta, *nodes])


def write(prefix, ranks, nodes, version="0.0.4"):
    data = et_file(nodes, version)
    for r in range(ranks):
        (prefix.parent / f"{prefix.name}.{r}.et").write_bytes(data)


def net(tmp_path, n=4, bw=50, lat=500):
    p = tmp_path / "net.yml"
    p.write_text(f"topology: [Switch]\nnpus_count: [{n}]\nbandwidth: [{bw}]\n"
                 f"latency: [{lat}]\n")
    return str(p)


@pytest.mark.parametrize("size_kind", ["int64", "uint64", "int32", "uint32", "sint64",
                                       "fixed64", "sfixed64", "double"])
@pytest.mark.parametrize("packed", [True, False])
def test_every_integer_encoding_of_the_public_schema_is_read(tmp_path, size_kind, packed):
    size = 2**20
    nodes = [node(10, "fwd", COMP, duration_us=100, attrs=[attr("is_cpu_op", "bool", False),
                                                          attr("num_ops", "int64", 10**9)]),
             node(11, "ar", COLL, data_deps=[10], packed=packed,
                  attrs=[attr("comm_type", "int64", ALL_REDUCE),
                         attr("comm_size", size_kind, float(size) if size_kind == "double"
                              else size),
                         attr("pg_name", "string", "0")]),
             node(12, "bwd", COMP, ctrl_deps=[11], packed=packed, duration_us=200,
                  attrs=[attr("is_cpu_op", "int32", 0)])]
    write(tmp_path / "w", 4, nodes)
    t = load_chakra(str(tmp_path / "w"))
    assert t.meta["chakra_versions"] == ["0.0.4"]
    ops = t.programs[0].ops
    assert [(o.kind, o.stream, o.bytes, o.deps) for o in ops] == [
        ("compute", "compute", 0.0, ()), ("all_reduce", "comm", float(size), ("10",)),
        ("compute", "compute", 0.0, ("11",))]
    _, _, res = run_chakra(str(tmp_path / "w"), net(tmp_path))
    # 4-rank ring all-reduce through one switch: 2 hops of 500 ns per step
    t_ar = 2 * 3 / 4 * size / (50 * GIB) + 2 * 3 * 1e-6
    assert res["step_time_s"] == pytest.approx(100e-6 + t_ar + 200e-6, rel=1e-9)


def test_collective_kinds_p2p_and_involved_dim_from_raw_bytes(tmp_path):
    # rank 0 sends 4 KiB to rank 1 (tag 3); every rank all-gathers and reduce-scatters
    coll = [node(1, "ag", COLL, attrs=[attr("comm_type", "uint32", ALL_GATHER),
                                       attr("comm_size", "uint64", 8 * 2**20),
                                       attr("involved_dim", "bool_list", [True])]),
            node(2, "rs", COLL, data_deps=[1], attrs=[attr("comm_type", "sint32",
                                                           REDUCE_SCATTER),
                                                      attr("comm_size", "fixed32", 2**20)])]
    send = node(3, "send", SEND, data_deps=[2], attrs=[attr("comm_dst", "int32", 1),
                                                       attr("comm_tag", "int32", 3),
                                                       attr("comm_size", "int64", 4096)])
    recv = node(3, "recv", RECV, data_deps=[2], attrs=[attr("comm_src", "int32", 0),
                                                       attr("comm_tag", "int32", 3),
                                                       attr("comm_size", "int64", 4096)])
    (tmp_path / "p.0.et").write_bytes(et_file(coll + [send]))
    (tmp_path / "p.1.et").write_bytes(et_file(coll + [recv]))
    t = load_chakra(str(tmp_path / "p"))
    r0, r1 = t.programs[0].ops, t.programs[1].ops
    assert [(o.kind, o.bytes) for o in r0] == [("all_gather", 8 * 2**20),
                                              ("reduce_scatter", 2**20), ("send", 4096)]
    assert (r0[2].peer.rank, r0[2].tag, r1[2].kind, r1[2].peer.rank, r1[2].tag) == (
        1, 3, "recv", 0, 3)


def test_fields_of_newer_schema_versions_are_tolerated(tmp_path):
    # StorageInfo (field 11) on a compute node and a field number unknown today
    future = f_len(11, f_varint(1, 1)) + f_varint(40, 123) + f_str(41, "later")
    write(tmp_path / "f", 2, [node(0, "mm", COMP, duration_us=7, extra=future)],
          version="0.0.5")
    t = load_chakra(str(tmp_path / "f"))
    assert t.meta["chakra_versions"] == ["0.0.5"]
    assert t.programs[0].ops[0].duration_s == pytest.approx(7e-6)


def test_collective_type_given_by_name_and_sizes_as_whole_floats(tmp_path):
    write(tmp_path / "n", 2, [node(0, "ar", COLL, attrs=[attr("comm_type", "string",
                                                              "ALL_REDUCE"),
                                                         attr("comm_size", "double", 4096.0)])])
    op = load_chakra(str(tmp_path / "n")).programs[0].ops[0]
    assert (op.kind, op.bytes) == ("all_reduce", 4096.0)


@pytest.mark.parametrize("bad, needle", [
    (attr("comm_size", "double", 10.5), r"'comm_size' must be a non-negative integer"),
    (attr("comm_size", "sint64", -8), r"'comm_size' must be a non-negative integer"),
    (attr("comm_size", "string", "big"), r"'comm_size' must be a non-negative integer"),
])
def test_bad_attribute_values_name_file_node_and_attribute(tmp_path, bad, needle):
    write(tmp_path / "b", 2, [node(5, "ar", COLL, attrs=[attr("comm_type", "int64", ALL_REDUCE),
                                                         bad])])
    with pytest.raises(InputError, match=r"b\.0\.et: node 5\.attr\.comm_size.*node 5 \('ar'\)"
                       + ".*" + needle):
        load_chakra(str(tmp_path / "b"))


def test_unknown_collective_name_and_storage_node_are_reported(tmp_path):
    write(tmp_path / "u", 2, [node(1, "x", COLL, attrs=[attr("comm_type", "string", "ALLREDUCE"),
                                                        attr("comm_size", "int64", 8)])])
    with pytest.raises(InputError, match=r"node 1 \('x'\).*collective ALLREDUCE is not supported"):
        load_chakra(str(tmp_path / "u"))
    write(tmp_path / "s", 2, [node(2, "io", STORAGE, extra=f_len(11, f_varint(1, 1)))])
    with pytest.raises(InputError, match=r"node 2 \('io'\).*STORAGE_NODE is not supported"):
        load_chakra(str(tmp_path / "s"))


def test_control_dependencies_kept_by_default_or_ignored_as_astra_sim_does(tmp_path):
    # the PyTorch converter's shape: a GPU kernel whose ctrl_deps name the CPU op that
    # launched it (no recorded start times), and a second CPU op after the first
    nodes = [node(1, "aten::mm", COMP, duration_us=50, attrs=[attr("is_cpu_op", "bool", True)]),
             node(2, "sm90_gemm", COMP, ctrl_deps=[1], duration_us=100,
                  attrs=[attr("is_cpu_op", "bool", False)]),
             node(3, "aten::add", COMP, data_deps=[1], duration_us=30,
                  attrs=[attr("is_cpu_op", "bool", True)])]
    write(tmp_path / "c", 2, nodes)
    n = net(tmp_path, n=2)
    _, _, res = run_chakra(str(tmp_path / "c"), n)
    assert res["step_time_s"] == pytest.approx(150e-6)          # the kernel waits for its launch
    _, _, res = run_chakra(str(tmp_path / "c"), n, deps="data")
    assert res["step_time_s"] == pytest.approx(100e-6)          # CPU 50 + 30 beside GPU 100
    assert res["astra"]["deps"] == "data"
    with pytest.raises(InputError, match="unknown dependency reading"):
        load_chakra(str(tmp_path / "c"), deps="ctrl")
