"""H200, B200 and GB200 NVL72 presets: datasheet values and the 72-GPU NVLink domain."""
import pytest

import topologies
from sim.collectives.timing import collective_report
from sim.commands.collective import collective_topology


def test_gb200_nvl72_is_one_72_gpu_nvlink_domain():
    gpu = topologies.gpu_spec("gb200")
    node = topologies.node_spec(gpu.node)
    assert node.gpus_per_node == 72 and node.nics == 72
    # NVLink 5: 1.8 TB/s bidirectional per GPU; 400 Gb/s NIC per GPU
    assert node.nvlink_bw_bytes_per_s == 9.0e11 and node.nic_bw_bytes_per_s == 5.0e10
    # 13.4 TB HBM3e and 576 TB/s per rack of 72
    assert gpu.hbm_bytes == pytest.approx(13.4e12 / 72, rel=0.01)
    assert gpu.hbm_bw_bytes_per_s == pytest.approx(576e12 / 72)
    g = topologies.build_cluster("gb200", 144)
    assert g.graph["node"] == "gb200-nvl72"


def test_collectives_inside_the_rack_stay_on_nvlink():
    # 64 GPUs: one NVL72 rack (NVLink only) against eight DGX B200 (NIC-bound)
    def busbw(preset):
        graph = collective_topology(preset, 64, 0.0, 0.0)
        return collective_report(graph, "all_to_all", 1e9, 64)["busbw_gb_s"]
    nvl72, dgx = busbw("gb200"), busbw("b200")
    assert nvl72 > 5 * dgx
    # across eight nodes 56 of every 64 bytes leave through a 50 GB/s NIC:
    # busbw = bytes * 63/64 / time <= 50 * 63/56
    assert dgx <= 50 * 63 / 56


@pytest.mark.parametrize("gpu, hbm, bw", [("h200-sxm", 141e9, 4.8e12), ("b200", 180e9, 7.7e12)])
def test_hbm_datasheet_values(gpu, hbm, bw):
    spec = topologies.gpu_spec(gpu)
    assert spec.hbm_bytes == hbm and spec.hbm_bw_bytes_per_s == bw
    assert topologies.node_spec(spec.node).gpus_per_node == 8
