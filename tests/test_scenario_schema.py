"""The scenario schema: every section checked when the file is loaded, errors that
name the file, the field and the value, with the nearest valid key."""
import math

import pytest

from sim.cli import main
from sim.scenario.cluster import ClusterConfig, FabricConfig
from sim.scenario.load import load_scenario, parse_scenario
from workloads.errors import InputError

PRESET = "llama3-405b-16k-faults"
LABEL = f"preset '{PRESET}'"

# one typo per section of the 16K-GPU preset, each with the key it should suggest
TYPOS = [
    ("model.layerz=3", "model.layerz", "layers"),
    ("cluster.gpuz=8", "cluster.gpuz", "gpu"),
    ("cluster.fabric.spine=3", "cluster.fabric.spine", "spines"),
    ("parallelism.tpp=8", "parallelism.tpp", "tp"),
    ("training.global_bach=4", "training.global_bach", "global_batch"),
    ("stragglers=[{kind: slow_gpu, gpu: 1, factr: 0.5}]", "stragglers[0].factr", "factor"),
    ("faults.detecton_s=5", "faults.detecton_s", "detection_s"),
    ("checkpoint.intervl_s=60", "checkpoint.intervl_s", "interval_s"),
    ("run.dayz=3", "run.dayz", "days"),
    ("sim.fols=false", "sim.fols", "fold"),
]


@pytest.mark.parametrize("override, field, suggestion", TYPOS, ids=[t[1] for t in TYPOS])
def test_a_typo_in_any_section_exits_2_naming_file_field_and_suggestion(
        override, field, suggestion, capsys):
    assert main(["run", PRESET, "--set", override, "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err
    assert lines[0].startswith(f"clustersim: error: {LABEL}: {field} = ")
    assert f"did you mean '{suggestion}'?" in lines[0]


def _error(overrides, spec=PRESET) -> InputError:
    with pytest.raises(InputError) as e:
        load_scenario(spec, overrides)
    return e.value


@pytest.mark.parametrize("override, field, needle", [
    # strict types: a boolean is not a count, a string is not a number
    ("cluster.gpus=true", "cluster.gpus", "integer"),
    ("parallelism.tp='8'", "parallelism.tp", "integer"),
    ("sim.fold=1", "sim.fold", "boolean"),
    # NaN and infinity are rejected in every numeric field
    ("faults.detection_s=.nan", "faults.detection_s", "finite"),
    ("checkpoint.save_bytes_per_s=.inf", "checkpoint.save_bytes_per_s", "finite"),
    ("training.tokens=.nan", "training.tokens", "finite"),
    ("stragglers=[{kind: jitter, sigma: .inf}]", "stragglers[0].sigma", "finite"),
    ("model.moe={experts: 8, top_k: 2, imbalance: .nan}", "model.moe.imbalance", "finite"),
    # upper limits say why
    ("cluster.gpus=4000000", "cluster.gpus", "largest clusters"),
    ("training.global_batch=100000000", "training.global_batch", "at most"),
    ("training.seq_len=100000000", "training.seq_len", "activation memory"),
    ("run.replicas=10000000", "run.replicas", "Monte Carlo"),
    ("run.days=100000", "run.days", "horizon"),
    ("faults.job_mtbf_h=0.001", "faults.job_mtbf_h", "greater than or equal"),
    ("model.layers=100000", "model.layers", "generator"),
    # choices come from the registries, with the nearest one
    ("cluster.gpu=h100-sx", "cluster.gpu", "did you mean 'h100-sxm'"),
    ("parallelism.schedule=1f1", "parallelism.schedule", "did you mean '1f1b'"),
    ("stragglers=[{kind: slow_gpus, gpu: 1}]", "stragglers[0].kind", "did you mean 'slow_gpu'"),
    ("model.preset=llama3-450b", "model.preset", "did you mean 'llama3-405b'"),
    ("cluster.fabric.routing=spary", "cluster.fabric.routing", "did you mean 'spray'"),
    ("training.dtype=bf61", "training.dtype", "did you mean 'bf16'"),
    # a key that was accepted and ignored says what to use instead
    ("parallelism.expert_imbalance=2", "parallelism.expert_imbalance", "model.moe.imbalance"),
    # a straggler takes only the keys of its kind
    ("stragglers=[{kind: slow_gpu, gpu: 1, sigma: 0.1}]", "stragglers[0].sigma", "unknown key"),
    # cross-field errors name the field to change
    ("training.micro_batch=32", "training.micro_batch", "divide"),
    ("parallelism.vpp=9", "parallelism.vpp", "layers"),
    (["parallelism.dp=null", "parallelism.pp=128"], "parallelism.pp", "layers"),
    (["parallelism.dp=null", "parallelism.tp=3"], "cluster.gpus", "multiple"),
    ("parallelism.tp=4", "parallelism.dp", "GPUs but the cluster has"),
    ("parallelism.placement_order=tp,dp", "parallelism.placement_order", None),
])
def test_bad_values_name_file_field_and_value(override, field, needle):
    e = _error(override if isinstance(override, list) else [override])
    assert e.file == LABEL and e.field == field, str(e)
    assert str(e).startswith(f"{LABEL}: {field}")
    if needle:
        assert needle in e.message


def test_checkpoint_and_run_are_checked_without_faults():
    e = _error(["faults=null", "checkpoint.mode=lazy"])
    assert (e.file, e.field, e.value) == (LABEL, "checkpoint.mode", "lazy")
    e = _error(["faults=null", "run.days=-1"])
    assert (e.file, e.field, e.value) == (LABEL, "run.days", -1)
    e = _error(["faults=null", "checkpoint.save_bytes_per_s=null"])
    assert e.field == "checkpoint.save_bytes_per_s"
    scn, _, _ = load_scenario(PRESET, ["faults=null"])
    assert scn.reliability is None


def test_long_values_are_shortened_in_messages():
    e = _error(["cluster.gpu=" + "x" * 500])
    assert e.field == "cluster.gpu" and len(str(e)) < 300 and "..." in str(e)


def test_moe_override_on_a_preset_merges_with_its_experts():
    scn, _, _ = load_scenario("mixtral-8x22b-256", ["model.moe.imbalance=2"])
    spec = scn.job.spec
    assert spec.moe.imbalance == 2.0 and spec.moe.experts == 8 and spec.moe.top_k == 2


def test_yaml_exponents_without_a_dot_are_numbers():
    scn, _, _ = load_scenario(PRESET, ["training.tokens=1e12"])   # YAML 1.1 reads a string
    assert scn.training.tokens == 1e12


def test_errors_found_after_loading_still_name_the_file(capsys):
    # a layout that does not fit in memory is found when the workload is built
    assert main(["run", PRESET, "--set", "training.seq_len=65536", "--json"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"clustersim: error: {LABEL}: training.seq_len = 65536: does not fit")


def test_memory_error_names_the_sequence_length_when_activations_dominate():
    scn, _, _ = load_scenario("llama3-405b-16k", ["training.seq_len=1000000"])
    from sim.scenario.workload import generate_workload
    with pytest.raises(InputError) as e:
        generate_workload(scn)
    assert e.value.field == "training.seq_len" and "does not fit" in e.value.message


# -- cluster.fabric: typed overrides of the fabric preset ----------------------------

def test_fabric_overrides_convert_units_once():
    f = FabricConfig.model_validate({"nic_bw_gbps": 400, "hop_latency_us": 0.5,
                                     "nodes_per_leaf": 4})
    assert f.rail_args() == {"nic_bw_bytes_per_s": 50e9, "hop_latency_s": 0.5e-6,
                             "nodes_per_leaf": 4}
    assert FabricConfig.model_validate("ndr-rail").preset == "ndr-rail"
    assert ClusterConfig.model_validate({"fabric": None}).fabric.routing == "spray"


@pytest.mark.parametrize("fabric, field, needle", [
    ({"preset": "x"}, "cluster.fabric.preset", "unknown fabric preset"),
    ("infiniband", "cluster.fabric.preset", "unknown fabric preset"),
    ({"radix": 64}, "cluster.fabric.radix", "unknown key"),
    ({"oversubscription": -1}, "cluster.fabric.oversubscription", "greater than 0"),
    ({"spines": 0}, "cluster.fabric.spines", "greater than or equal to 1"),
    ({"nic_bw_gbps": 400, "nic_bw_bytes_per_s": 5e10}, "cluster.fabric.nic_bw_bytes_per_s",
     "given twice"),
    (5, "cluster.fabric", "valid dictionary"),
    ({"nic_efficiency": 2}, "cluster.fabric.nic_efficiency", "less than or equal to 1"),
    ({"routing": "bogus"}, "cluster.fabric.routing", "unknown routing"),
])
def test_bad_fabrics_name_the_field(fabric, field, needle):
    with pytest.raises(InputError) as e:
        parse_scenario({"trace": "x.json", "cluster": {"gpu": "h100-sxm", "fabric": fabric}},
                       "s.yaml")
    assert e.value.file == "s.yaml" and e.value.field == field and needle in e.value.message


def test_fabric_overrides_reach_the_graph():
    scn, _, _ = load_scenario("default", ["cluster.gpus=64", "parallelism.dp=1",
                                          "parallelism.tp=8", "parallelism.pp=8",
                                          "cluster.fabric.nodes_per_leaf=4",
                                          "cluster.fabric.oversubscription=2"])
    g = scn.job.cluster.graph()
    assert g.graph["nodes_per_leaf"] == 4 and g.graph["spines"] == 2
    assert scn.job.cluster.gpus == 64 and scn.job.cluster.gpus_per_node == 8
    assert math.isclose(g.graph["oversubscription"], 2.0)
