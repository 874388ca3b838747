"""Hardware presets: datasheet values, calibrated efficiencies, loader errors."""
import dataclasses

import pytest

import topologies as T

# Vendor datasheet figures (see the `source:` of each entry); NVLink here is
# the bidirectional figure the datasheets print.
DATASHEET = {
    "a100-40gb": dict(flops=312e12, hbm=40e9, hbm_bw=1.555e12, nvlink_bidir=600e9),
    "a100-80gb": dict(flops=312e12, hbm=80e9, hbm_bw=2.0e12, nvlink_bidir=600e9),
    "h100-sxm": dict(flops=989e12, hbm=80e9, hbm_bw=3.35e12, nvlink_bidir=900e9),
    "h200-sxm": dict(flops=989e12, hbm=141e9, hbm_bw=4.8e12, nvlink_bidir=900e9),
    "b200": dict(flops=2.25e15, hbm=180e9, hbm_bw=7.7e12, nvlink_bidir=1800e9),
    "gb200": dict(flops=2.5e15, hbm=186e9, hbm_bw=8.0e12, nvlink_bidir=1800e9),
}


def test_lists():
    assert T.list_gpus() == sorted(DATASHEET)
    assert T.list_nodes() == ["dgx-a100", "dgx-b200", "dgx-h100", "dgx-h200", "gb200-nvl72"]
    assert T.list_fabrics() == ["hdr-rail", "ndr-rail"]


@pytest.mark.parametrize("name", sorted(DATASHEET))
def test_gpu_datasheet_values(name):
    g, want = T.gpu_spec(name), DATASHEET[name]
    assert g.name == name
    assert g.peak_dense_flops == want["flops"]
    assert g.hbm_bytes == want["hbm"]
    assert g.hbm_bw_bytes_per_s == want["hbm_bw"]
    assert g.nvlink_bw_bytes_per_s == want["nvlink_bidir"] / 2
    assert g.source and g.node in T.list_nodes() and g.fabric in T.list_fabrics()
    # precision peaks (the bf16 one is the dense peak), SM count, GEMM tile
    assert set(g.extra) == {"peak_flops_by_precision", "sms", "gemm_tile"}
    assert g.extra["peak_flops_by_precision"]["bf16"] == want["flops"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        g.hbm_bytes = 1.0


# nccl-tests bandwidths (calibration data): busbw of an 8-GPU ring all-reduce
# over NVLink, and the peak bandwidth one NIC reaches, in GB/s.
@pytest.mark.parametrize("node, busbw, nvlink, nic_peak, nic_rate", [
    ("dgx-a100", 232, 300, 24, 25),
    ("dgx-h100", 370, 450, 47, 50),
    ("dgx-h200", 370, 450, 47, 50),     # reuses H100's
    ("dgx-b200", 370, 450, 47, 50),     # reuses H100's
])
def test_node_efficiencies_match_measurements(node, busbw, nvlink, nic_peak, nic_rate):
    n = T.node_spec(node)
    assert n.nvlink_efficiency == pytest.approx(busbw / nvlink, abs=1e-4)
    assert n.nic_efficiency == pytest.approx(nic_peak / nic_rate, abs=1e-4)
    assert n.nic_bw_bytes_per_s == nic_rate * 1e9
    assert n.nics == n.gpus_per_node == 8


@pytest.mark.parametrize("node", ["dgx-a100", "dgx-h100", "dgx-h200", "dgx-b200"])
def test_node_is_consistent_with_its_gpu(node):
    n = T.node_spec(node)
    g = T.gpu_spec(n.gpu)
    assert g.node == node
    assert n.nvlink_bw_bytes_per_s == g.nvlink_bw_bytes_per_s
    assert n.fabric == g.fabric
    assert 1e-7 <= n.nvlink_latency_s <= 2e-6 and 1e-7 <= n.pcie_latency_s <= 2e-6


@pytest.mark.parametrize("name, rate, npl, eff", [("hdr-rail", 25e9, 20, 0.96),
                                                  ("ndr-rail", 50e9, 32, 0.94)])
def test_fabrics(name, rate, npl, eff):
    f = T.fabric_spec(name)
    assert (f.topology, f.link_bw_bytes_per_s, f.nodes_per_leaf) == ("rail-optimized", rate, npl)
    assert (f.oversubscription, f.spines, f.link_efficiency) == (1.0, None, eff)
    assert 1e-7 <= f.hop_latency_s <= 1e-6


def test_unknown_names_list_the_known_ones():
    with pytest.raises(T.TopologyError) as err:
        T.gpu_spec("v100")
    assert str(err.value) == ("gpu = 'v100': unknown gpu preset (known: a100-40gb, a100-80gb, "
                              "b200, gb200, h100-sxm, h200-sxm)")
    with pytest.raises(T.TopologyError, match="node = 'dgx-2': unknown node preset"):
        T.node_spec("dgx-2")
    with pytest.raises(T.TopologyError, match="fabric = 'ethernet': unknown fabric preset"):
        T.fabric_spec("ethernet")


GPU_ENTRY = """\
x1:
  peak_dense_flops: 1.0e+15
  hbm_bytes: 9.6e+10
  hbm_bw_bytes_per_s: 4.0e+12
  nvlink_bw_bytes_per_s: 4.5e+11
  node: dgx-h100
  fabric: ndr-rail
  source: test entry
"""


def test_unknown_gpu_subkeys_kept_under_extra(tmp_path):
    path = tmp_path / "gpus.yaml"
    path.write_text(GPU_ENTRY + "  compute: {matmul_efficiency: 0.7}\n  note: hi\n")
    g = T.gpu_spec("x1", path=path)
    assert g.extra == {"compute": {"matmul_efficiency": 0.7}, "note": "hi"}
    assert g.peak_dense_flops == 1e15
    assert T.list_gpus(path=path) == ["x1"]


@pytest.mark.parametrize("edit, message", [
    (("hbm_bytes: 9.6e+10", "hbm_bytes: -1"), "gpus.yaml: x1.hbm_bytes = -1: must be a positive"),
    (("hbm_bytes: 9.6e+10", "hbm_bytes: 96e9"), "x1.hbm_bytes = '96e9'"),     # YAML 1.1: a string
    (("  node: dgx-h100\n", ""), "gpus.yaml: x1.node: missing required field"),
    (("source: test entry", "source: [a"), "gpus.yaml: not valid YAML (line 9, column 1): "),
    ((GPU_ENTRY, "x1: 5\n"), "gpus.yaml: x1 = 5: must be a mapping"),
])
def test_gpu_file_errors(tmp_path, edit, message):
    path = tmp_path / "gpus.yaml"
    path.write_text(GPU_ENTRY.replace(*edit))
    with pytest.raises(T.TopologyError) as err:
        T.gpu_spec("x1", path=path)
    assert message in str(err.value)


def _node_file(tmp_path, **changes):
    import yaml
    data = yaml.safe_load((T.specs.HARDWARE_DIR / "nodes.yaml").read_text())
    entry = data["dgx-a100"]
    for key, value in changes.items():
        if value is None:
            entry.pop(key)
        else:
            entry[key] = value
    path = tmp_path / "nodes.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize("changes, message", [
    (dict(nics=4), "nodes.yaml: dgx-a100.nics = 4: must equal gpus_per_node (8)"),
    (dict(nvlink_efficiency=0.0), "dgx-a100.nvlink_efficiency = 0.0: must be a number in (0, 1]"),
    (dict(pcie_latency_s=-1e-6), "dgx-a100.pcie_latency_s = -1e-06"),
    (dict(gpus_per_node=2.5), "dgx-a100.gpus_per_node = 2.5: must be an integer >= 1"),
    (dict(nic_bw_bytes_per_s=None), "dgx-a100.nic_bw_bytes_per_s: missing required field"),
    (dict(switches=6), "dgx-a100.switches = 6: unknown key"),
])
def test_node_file_errors(tmp_path, changes, message):
    with pytest.raises(T.TopologyError) as err:
        T.node_spec("dgx-a100", path=_node_file(tmp_path, **changes))
    assert message in str(err.value)


def test_fabric_file_errors(tmp_path):
    path = tmp_path / "fabrics.yaml"
    text = (T.specs.HARDWARE_DIR / "fabrics.yaml").read_text()
    path.write_text(text.replace("topology: rail-optimized", "topology: torus", 1))
    with pytest.raises(T.TopologyError, match=r"fabrics\.yaml: hdr-rail\.topology = 'torus'"):
        T.fabric_spec("hdr-rail", path=path)
    path.write_text(text.replace("spines: null", "spines: 0", 1))
    with pytest.raises(T.TopologyError, match=r"hdr-rail\.spines = 0: must be an integer >= 1"):
        T.fabric_spec("hdr-rail", path=path)
    with pytest.raises(T.TopologyError, match="cannot read file"):
        T.fabric_spec("hdr-rail", path=tmp_path / "missing.yaml")
