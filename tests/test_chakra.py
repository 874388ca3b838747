"""Chakra ET import and replay on ASTRA-sim networks, against alpha-beta closed forms."""
import json
from pathlib import Path

import pytest

from sim.astra import run_chakra
from workloads.errors import InputError
from workloads.importers import et_schema as S
from workloads.importers.chakra import decode_file, load_chakra
from workloads.importers.et_writer import (allreduce_nodes, dp_nodes, et_bytes, node,
                                           write_all_ranks, write_et)
from tests.helpers import one_line_error, run_cli as cli

EX = Path(__file__).resolve().parents[1] / "workloads" / "examples" / "chakra"
GIB = 2**30
AR = S.COLLECTIVE_TYPES["ALL_REDUCE"]


def ring_ar_s(nbytes, n, bw, alpha):
    return 2 * (n - 1) / n * nbytes / bw + 2 * (n - 1) * alpha


def rs_s(nbytes, n, bw, alpha):
    return (n - 1) / n * nbytes / bw + (n - 1) * alpha


def net(tmp_path, text, name="net.yml"):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


# -- reading ---------------------------------------------------------------

def test_written_nodes_read_back_with_their_attributes(tmp_path):
    nodes = [node(1, "mm", S.COMP_NODE, duration_us=250, is_cpu_op=False, num_ops=10),
             node(2, "ar", S.COMM_COLL_NODE, data_deps=[1], comm_type=AR, comm_size=4096,
                  pg_name="0"),
             node(3, "snd", S.COMM_SEND_NODE, ctrl_deps=[2], comm_dst=1, comm_tag=7,
                  comm_size=64)]
    meta, out = decode_file(et_bytes(nodes), "x.et")
    assert meta["version"] == "0.0.4"
    assert [(n.id, n.type, n.deps) for n in out] == [(1, S.COMP_NODE, ()),
                                                   (2, S.COMM_COLL_NODE, (1,)),
                                                   (3, S.COMM_SEND_NODE, (2,))]
    assert out[0].duration_us == 250 and out[0].attrs == {"is_cpu_op": False, "num_ops": 10}
    assert out[1].attrs == {"comm_type": AR, "comm_size": 4096, "pg_name": "0"}
    assert out[2].attrs["comm_tag"] == 7


def test_identical_rank_files_fold_into_one_program():
    t = load_chakra(str(EX / "dp_64"))
    assert t.world_size == 64 and len(t.programs) == 1 and t.programs[0].ranks == list(range(64))
    kinds = [o.kind for o in t.programs[0].ops]
    assert kinds.count("all_reduce") == 16 and kinds.count("compute") == 32
    # every all-reduce follows its layer's backward; forward of iteration 1 waits for it
    ops = {o.layer: o for o in t.programs[0].ops}
    assert ops["it0.ar3"].deps == (ops["it0.bwd3"].id,)
    assert ops["it0.ar3"].id in ops["it1.fwd3"].deps


def test_attribute_integer_types_all_accepted(tmp_path):
    from workloads.importers.et_schema import messages
    _, Node, _ = messages()
    n = Node(id=0, name="ar", type=S.COMM_COLL_NODE)
    a = n.attr.add(name="comm_type")
    a.uint32_val = AR
    b = n.attr.add(name="comm_size")
    b.uint64_val = 2**40
    write_et(tmp_path / "w.0.et", [n.SerializeToString()])
    write_et(tmp_path / "w.1.et", [n.SerializeToString()])
    op = load_chakra(str(tmp_path / "w")).programs[0].ops[0]
    assert op.kind == "all_reduce" and op.bytes == 2**40


def test_metadata_and_memory_nodes_are_kept_cpu_ops_get_their_stream(tmp_path):
    nodes = [node(0, "meta", S.METADATA_NODE),
             node(1, "load", S.MEM_LOAD_NODE, data_deps=[0], tensor_size=1024),
             node(2, "cpu", S.COMP_NODE, data_deps=[1], duration_us=5, is_cpu_op=True),
             node(3, "gpu", S.COMP_NODE, data_deps=[1], duration_us=7)]
    write_all_ranks(tmp_path / "m", 2, nodes)
    ops = load_chakra(str(tmp_path / "m")).programs[0].ops
    assert [(o.stream, o.duration_s, o.bytes) for o in ops] == [
        ("meta", 0.0, 0.0), ("mem", None, 1024.0), ("cpu", 5e-6, 0.0), ("compute", 7e-6, 0.0)]


# -- replay against closed forms --------------------------------------------

def test_8_rank_allreduce_on_a_switch_is_the_ring_closed_form():
    _, step, res = run_chakra(str(EX / "allreduce_1g"), str(EX / "switch_8.yml"))
    # 50 GB/s (GB = 2^30 B) per link, 2 hops of 500 ns per step through the switch
    assert res["step_time_s"] == pytest.approx(ring_ar_s(GIB, 8, 50 * GIB, 1e-6), rel=1e-9)
    assert res["gpus"] == 8 and res["sim"]["rank_classes"] == 1


def test_64_rank_dp_loop_on_2d_network_matches_alpha_beta():
    _, _, res = run_chakra(str(EX / "dp_64"), str(EX / "switch_2d_8x8.yml"),
                           str(EX / "system_2d.json"))
    s, a = 16 * 2**20, 1e-6
    # localBWAware: reduce-scatter in the node, all-reduce of 1/8 across nodes, all-gather
    t_ar = 2 * rs_s(s, 8, 400 * GIB, a) + ring_ar_s(s / 8, 8, 50 * GIB, a)
    assert t_ar < 200e-6          # each all-reduce hides behind the next backward layer
    # 2 iterations x 8 layers x (100 + 200) us of compute; only the last layer's
    # all-reduce of each iteration is exposed
    expected = 2 * 8 * 300e-6 + 2 * t_ar
    assert res["step_time_s"] == pytest.approx(expected, rel=1e-9)
    assert res["breakdown"]["compute_s"] == pytest.approx(4.8e-3)


def test_1024_rank_dp_loop_is_comm_bound_as_the_closed_form_says(tmp_path):
    write_all_ranks(tmp_path / "dp", 1024, dp_nodes())
    trace, _, res = run_chakra(str(tmp_path / "dp"), str(EX / "switch_2d_8x128.yml"),
                               str(EX / "system_2d.json"))
    assert len(trace.programs) == 1 and res["sim"]["rank_classes"] == 1
    s, a = 16 * 2**20, 1e-6
    t_ar = 2 * rs_s(s, 8, 400 * GIB, a) + ring_ar_s(s / 8, 128, 50 * GIB, a)
    assert t_ar > 200e-6      # longer than a backward layer: all-reduces queue up
    # per iteration: forward, the first backward layer, then 8 all-reduces back to back
    assert res["step_time_s"] == pytest.approx(2 * (8 * 100e-6 + 200e-6 + 8 * t_ar), rel=1e-9)


def test_baseline_optimisation_all_reduces_the_whole_buffer_in_each_dimension(tmp_path):
    write_all_ranks(tmp_path / "a", 16, allreduce_nodes(2**26))
    n = net(tmp_path, "topology: [Switch, Ring]\nnpus_count: [4, 4]\n"
            "bandwidth: [100, 20]\nlatency: [100, 200]\n")
    sysf = tmp_path / "s.json"
    sysf.write_text(json.dumps({"collective-optimization": "baseline"}))
    _, _, res = run_chakra(str(tmp_path / "a"), n, str(sysf))
    # switch: two 100 ns hops per step; ring: neighbours one 200 ns hop apart
    expected = ring_ar_s(2**26, 4, 100 * GIB, 200e-9) + ring_ar_s(2**26, 4, 20 * GIB, 200e-9)
    assert res["step_time_s"] == pytest.approx(expected, rel=1e-9)


def test_halving_doubling_and_direct_closed_forms(tmp_path):
    write_all_ranks(tmp_path / "a", 8, allreduce_nodes(2**24))
    n = net(tmp_path, "topology: [Switch]\nnpus_count: [8]\nbandwidth: [10]\nlatency: [1000]\n")
    bw, a, s = 10 * GIB, 2e-6, 2**24
    for algo, expected in (("halvingDoubling", 2 * (7 / 8 * s / bw + 3 * a)),
                           ("direct", 7 * (2 * s / 8) / bw + 2 * a),
                           ("ring", ring_ar_s(s, 8, bw, a))):
        sysf = tmp_path / f"{algo}.json"
        sysf.write_text(json.dumps({"all-reduce-implementation": [algo]}))
        _, _, res = run_chakra(str(tmp_path / "a"), n, str(sysf))
        assert res["step_time_s"] == pytest.approx(expected, rel=1e-9), algo


def test_endpoint_delay_adds_to_every_step(tmp_path):
    write_all_ranks(tmp_path / "a", 8, allreduce_nodes(2**24))
    n = net(tmp_path, "topology: [Switch]\nnpus_count: [8]\nbandwidth: [10]\nlatency: [1000]\n")
    sysf = tmp_path / "s.json"
    sysf.write_text(json.dumps({"endpoint-delay": 300}))
    _, _, res = run_chakra(str(tmp_path / "a"), n, str(sysf))
    assert res["step_time_s"] == pytest.approx(ring_ar_s(2**24, 8, 10 * GIB, 2.3e-6), rel=1e-9)


def test_chunked_pipelining_beats_one_chunk_and_respects_the_bandwidth_bound(tmp_path):
    write_all_ranks(tmp_path / "a", 64, allreduce_nodes(2**28))
    n = str(EX / "switch_2d_8x8.yml")
    times = {}
    for splits in (1, 4, 16):
        sysf = tmp_path / f"s{splits}.json"
        sysf.write_text(json.dumps({"preferred-dataset-splits": splits,
                                    "active-chunks-per-dimension": 1}))
        times[splits] = run_chakra(str(tmp_path / "a"), n, str(sysf))[2]["step_time_s"]
    s = 2**28
    one = 2 * rs_s(s, 8, 400 * GIB, 1e-6) + ring_ar_s(s / 8, 8, 50 * GIB, 1e-6)
    assert times[1] == pytest.approx(one, rel=1e-9)
    # the inter-node stage alone must move its bytes; chunking hides the others behind it
    bound = 2 * 7 / 8 * (s / 8) / (50 * GIB)
    assert bound < times[16] < times[4] < times[1]


def test_comm_groups_run_collectives_on_their_members(tmp_path):
    for r in range(8):
        write_et(tmp_path / f"g.{r}.et", [node(0, "ar", S.COMM_COLL_NODE, comm_type=AR,
                                              comm_size=2**24, pg_name=str(r // 4))])
    groups = tmp_path / "groups.json"
    groups.write_text(json.dumps({"0": [0, 1, 2, 3], "1": [4, 5, 6, 7]}))
    n = net(tmp_path, "topology: [Switch]\nnpus_count: [8]\nbandwidth: [10]\nlatency: [1000]\n")
    trace, _, res = run_chakra(str(tmp_path / "g"), n, None, str(groups))
    assert len(trace.programs) == 2
    assert res["step_time_s"] == pytest.approx(ring_ar_s(2**24, 4, 10 * GIB, 2e-6), rel=1e-9)


def test_send_recv_pairs_move_bytes_between_ranks(tmp_path):
    write_et(tmp_path / "p.0.et", [node(0, "c", S.COMP_NODE, duration_us=10),
                                   node(1, "s", S.COMM_SEND_NODE, data_deps=[0], comm_dst=1,
                                        comm_size=2**20, comm_tag=3)])
    write_et(tmp_path / "p.1.et", [node(5, "r", S.COMM_RECV_NODE, comm_src=0,
                                        comm_size=2**20, comm_tag=3),
                                   node(6, "c", S.COMP_NODE, data_deps=[5], duration_us=10)])
    n = net(tmp_path, "topology: [Switch]\nnpus_count: [2]\nbandwidth: [1]\nlatency: [0]\n")
    _, _, res = run_chakra(str(tmp_path / "p"), n)
    assert res["step_time_s"] == pytest.approx(20e-6 + 2**20 / GIB, rel=1e-9)


# -- malformed inputs: exit 2, one line naming the file and node ------------

@pytest.fixture
def good(tmp_path):
    write_all_ranks(tmp_path / "w", 4, dp_nodes(layers=2, iterations=1))
    return tmp_path


def _net4(tmp_path):
    return net(tmp_path, "topology: [Switch]\nnpus_count: [4]\nbandwidth: [10]\nlatency: [10]\n")


def test_truncated_file(good):
    f = good / "w.2.et"
    f.write_bytes(f.read_bytes()[:-5])
    one_line_error(cli("run", "--chakra", str(good / "w"), "--network", _net4(good)),
                   "w.2.et", "truncated", "after node")


def test_wrong_message(good):
    # a file whose first message is a Node, not a GlobalMetadata
    body = node(0, "x", S.COMP_NODE, duration_us=1)
    (good / "w.1.et").write_bytes(bytes([len(body)]) + body + bytes([len(body)]) + body)
    one_line_error(cli("run", "--chakra", str(good / "w"), "--network", _net4(good)),
                   "w.1.et", "GlobalMetadata")


def test_dependency_on_a_missing_node(good):
    write_et(good / "w.3.et", [node(0, "a", S.COMP_NODE, duration_us=1),
                               node(1, "b", S.COMP_NODE, data_deps=[0, 42], duration_us=1)])
    one_line_error(cli("run", "--chakra", str(good / "w"), "--network", _net4(good)),
                   "w.3.et", "node 1", "42")


def test_missing_rank_file(good):
    (good / "w.2.et").unlink()
    one_line_error(cli("run", "--chakra", str(good / "w"), "--network", _net4(good)),
                   "w.2.et", "missing rank file")


def test_more_rank_files_than_network_npus(good):
    (good / "w.4.et").write_bytes((good / "w.3.et").read_bytes())
    one_line_error(cli("run", "--chakra", str(good / "w"), "--network", _net4(good)),
                   "w.4.et", "beyond the network's 4 NPUs")


def test_group_naming_an_absent_rank(good):
    g = good / "groups.json"
    g.write_text(json.dumps({"0": [0, 1, 2, 3, 9]}))
    one_line_error(cli("run", "--chakra", str(good / "w"), "--network", _net4(good),
                       "--comm-groups", str(g)), "groups.json", "rank 9")


def test_rank_outside_its_named_group(tmp_path):
    for r in range(4):
        write_et(tmp_path / f"g.{r}.et", [node(0, "ar", S.COMM_COLL_NODE, comm_type=AR,
                                              comm_size=8, pg_name="0")])
    g = tmp_path / "groups.json"
    g.write_text(json.dumps({"0": [0, 1]}))
    with pytest.raises(InputError, match="rank 2 is not a member of group 0"):
        load_chakra(str(tmp_path / "g"), comm_groups=str(g))


@pytest.mark.parametrize("text,needle", [
    ("topology: [Switch]\nnpus_count: [4]\nbandwidth: [10]\nlatency: [10]\nfoo: 1\n", "foo"),
    ("topology: [Torus]\nnpus_count: [4]\nbandwidth: [10]\nlatency: [10]\n", "topology[0]"),
    ("topology: [Switch, Ring]\nnpus_count: [4]\nbandwidth: [10]\nlatency: [10]\n",
     "one entry per dimension"),
    ("topology: [Switch]\nnpus_count: [4]\nbandwidth: [-1]\nlatency: [10]\n", "bandwidth[0]"),
    ("topology: [Switch\n", "not valid YAML"),
])
def test_bad_network_yaml(good, text, needle):
    one_line_error(cli("run", "--chakra", str(good / "w"), "--network",
                       net(good, text, "bad.yml")), "bad.yml", needle)


@pytest.mark.parametrize("system,needle", [
    ({"all-reduce-implementation": ["ring"], "warp-speed": 9}, "warp-speed"),
    ({"all-reduce-implementation": ["oneRing"]}, "all-reduce-implementation[0]"),
    ({"all-reduce-implementation": ["ring", "ring"]}, "one algorithm per network dimension"),
    ({"all-gather-implementation": ["doubleBinaryTree"]}, "only all-reduce"),
    ({"scheduling-policy": "SJF"}, "scheduling-policy"),
    ({"preferred-dataset-splits": 0}, "preferred-dataset-splits"),
])
def test_unsupported_system_keys_are_reported(good, system, needle):
    s = good / "sys.json"
    s.write_text(json.dumps(system))
    one_line_error(cli("run", "--chakra", str(good / "w"), "--network", _net4(good),
                       "--system", str(s)), "sys.json", needle)


def test_unsupported_node_type_and_collective_are_named(good):
    write_et(good / "w.0.et", [node(7, "ckpt", S.CHECKPOINT_NODE)])
    with pytest.raises(InputError, match=r"w\.0\.et.*node 7 \('ckpt'\).*CHECKPOINT_NODE"):
        load_chakra(str(good / "w"))
    write_et(good / "w.0.et", [node(8, "g", S.COMM_COLL_NODE,
                                    comm_type=S.COLLECTIVE_TYPES["GATHER"], comm_size=8)])
    with pytest.raises(InputError, match=r"node 8 .*GATHER is not supported"):
        load_chakra(str(good / "w"))


def test_compute_without_duration_needs_a_roofline(tmp_path):
    write_all_ranks(tmp_path / "r", 2, [node(0, "mm", S.COMP_NODE, num_ops=10**12,
                                             tensor_size=2**30)])
    n = net(tmp_path, "topology: [Switch]\nnpus_count: [2]\nbandwidth: [10]\nlatency: [10]\n")
    with pytest.raises(InputError, match="peak-perf"):
        run_chakra(str(tmp_path / "r"), n)
    sysf = tmp_path / "s.json"
    sysf.write_text(json.dumps({"roofline-enabled": 1, "peak-perf": 100, "local-mem-bw": 1000}))
    res = run_chakra(str(tmp_path / "r"), n, str(sysf))[2]
    # max(1e12 / 100 TFLOP/s, 1 GiB / 1000 GiB/s) = 10 ms
    assert res["step_time_s"] == pytest.approx(max(1e12 / 100e12, 1 / 1000), rel=1e-9)


# -- the command line ---------------------------------------------------------

def test_run_chakra_json_and_convert(tmp_path):
    p = cli("run", "--chakra", str(EX / "allreduce_1g"), "--network", str(EX / "switch_8.yml"),
            "--json")
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout)
    assert res["step_time_s"] == pytest.approx(ring_ar_s(GIB, 8, 50 * GIB, 1e-6), rel=1e-9)
    out = tmp_path / "dp.json"
    p = cli("trace", "convert", "chakra", str(EX / "dp_64"), "-o", str(out))
    assert p.returncode == 0, p.stderr
    from workloads.trace import load
    t = load(out)
    assert t.world_size == 64 and len(t.programs[0].ops) == 48


def test_involved_dim_restricts_a_collective_to_its_dimensions(tmp_path):
    # ASTRA-sim's rank coordinates: dims [4, 2]; dimension 0 only = the two groups of 4
    from workloads.importers.chakra import dim_groups
    assert dim_groups([4, 2], [True, False]) == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert dim_groups([4, 2], [False, True]) == [[0, 4], [1, 5], [2, 6], [3, 7]]
    from workloads.importers.et_schema import messages
    _, Node, _ = messages()

    def coll(nid, mask):
        n = Node(id=nid, name=f"ar{nid}", type=S.COMM_COLL_NODE)
        n.data_deps.extend([nid - 1] if nid else [])
        a = n.attr.add(name="comm_type")
        a.int64_val = AR
        b = n.attr.add(name="comm_size")
        b.uint64_val = 2**24
        c = n.attr.add(name="involved_dim")
        c.bool_list.values.extend(mask)
        return n.SerializeToString()

    write_all_ranks(tmp_path / "d", 8, [coll(0, [True, False]), coll(1, [False, True]),
                                        coll(2, [True, True])])
    n = net(tmp_path, "topology: [Switch, Switch]\nnpus_count: [4, 2]\n"
            "bandwidth: [100, 10]\nlatency: [1000, 1000]\n")
    trace, _, res = run_chakra(str(tmp_path / "d"), n)
    assert sorted(trace.groups) == ["dims:01", "dims:10", "world"]
    s, a = 2**24, 2e-6
    dim0 = ring_ar_s(s, 4, 100 * GIB, a)
    dim1 = ring_ar_s(s, 2, 10 * GIB, a)
    both = 2 * rs_s(s, 4, 100 * GIB, a) + ring_ar_s(s / 4, 2, 10 * GIB, a)
    assert res["step_time_s"] == pytest.approx(dim0 + dim1 + both, rel=1e-9)
    # without the network's dimensions a partial involved_dim cannot be placed
    with pytest.raises(InputError, match="involved_dim"):
        load_chakra(str(tmp_path / "d"))


def test_folded_and_unfolded_replays_agree():
    args = (str(EX / "dp_64"), str(EX / "switch_2d_8x8.yml"), str(EX / "system_2d_chunked.json"))
    _, _, folded = run_chakra(*args)
    _, _, unfolded = run_chakra(*args, fold=False)
    assert folded["sim"]["rank_classes"] == 1 and unfolded["sim"]["rank_classes"] == 64
    assert unfolded["step_time_s"] == pytest.approx(folded["step_time_s"], rel=1e-9)


def test_control_dependencies_order_nodes_unless_they_are_enclosing_parents(tmp_path):
    nodes = [node(1, "parent", S.COMP_NODE, duration_us=100, is_cpu_op=True),
             node(2, "after", S.COMP_NODE, ctrl_deps=[1], duration_us=10)]
    _, out = decode_file(et_bytes(nodes), "x.et")
    assert out[1].deps == (1,)          # no timestamps: an order
    from workloads.importers.et_schema import messages
    _, Node, _ = messages()
    p = Node(id=1, name="parent", type=S.COMP_NODE, start_time_micros=1000, duration_micros=100)
    c = Node(id=2, name="child", type=S.COMP_NODE, start_time_micros=1020, duration_micros=30)
    c.ctrl_deps.append(1)
    d = Node(id=3, name="next", type=S.COMP_NODE, start_time_micros=1200, duration_micros=5)
    d.ctrl_deps.append(1)
    d.data_deps.append(2)
    _, out = decode_file(et_bytes([m.SerializeToString() for m in (p, c, d)]), "x.et")
    assert out[1].deps == () and out[2].deps == (2, 1)


def test_astra_sim_sample_network_and_system_json_run_as_shipped(tmp_path):
    # the shape of ASTRA-sim's HGX-H100 network JSON and 4-chunk ring system JSON
    netf = tmp_path / "HGX-H100.json"
    netf.write_text('{\n  "topology": [\n    "Switch"\n  ],\n  "npus_count": [\n    8\n  ],\n'
                    '  "bandwidth": [\n    400.0\n  ],\n  "latency": [\n    936.25\n  ]\n}\n')
    sysf = tmp_path / "Ring_4chunks.json"
    sysf.write_text(json.dumps({
        "scheduling-policy": "LIFO", "endpoint-delay": 10, "active-chunks-per-dimension": 1,
        "preferred-dataset-splits": 4, "all-reduce-implementation": ["ring"],
        "all-gather-implementation": ["ring"], "reduce-scatter-implementation": ["ring"],
        "all-to-all-implementation": ["ring"], "collective-optimization": "localBWAware",
        "local-mem-bw": 1600, "boost-mode": 0, "roofline-enabled": 1, "peak-perf": 900},
        indent=4))
    _, _, res = run_chakra(str(EX / "allreduce_1g"), str(netf), str(sysf))
    # 4 chunks one after the other, each a ring all-reduce of a quarter of 1 GiB; a ring
    # step crosses the switch (2 x 936.25 ns) and pays the 10 ns endpoint delay
    alpha = 2 * 936.25e-9 + 10e-9
    assert res["step_time_s"] == pytest.approx(4 * ring_ar_s(GIB / 4, 8, 400 * GIB, alpha),
                                               rel=1e-9)
    assert any("LIFO" in n for n in res["astra"]["notes"])
