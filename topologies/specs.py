"""Hardware presets (GPUs, nodes, fabrics) read from YAML data files.

The files live in ``topologies/hardware/``; every accessor takes an optional
``path`` to read another file of the same shape instead. Files are read on each
call (they are small) so nothing is cached in module state.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

from topologies import _validate as v
from topologies.errors import TopologyError

HARDWARE_DIR = Path(__file__).resolve().parent / "hardware"


@dataclasses.dataclass(frozen=True)
class GpuSpec:
    """One GPU type. FLOP/s, bytes, bytes/s; NVLink bandwidth per direction.

    ``extra`` holds every other key of the YAML entry (e.g. ``compute``).
    """
    name: str
    peak_dense_flops: float
    hbm_bytes: float
    hbm_bw_bytes_per_s: float
    nvlink_bw_bytes_per_s: float
    node: str
    fabric: str
    source: str
    extra: Mapping[str, object] = dataclasses.field(default_factory=lambda: MappingProxyType({}))


@dataclasses.dataclass(frozen=True)
class NodeSpec:
    """One server type: GPUs on an NVSwitch, one NIC per GPU over PCIe.

    Bandwidths per direction in bytes/s, latencies per hop in s, efficiencies
    are achievable fractions of nominal bandwidth.
    """
    name: str
    gpu: str
    gpus_per_node: int
    nvlink_bw_bytes_per_s: float
    nvlink_latency_s: float
    nvlink_efficiency: float
    nics: int
    nic_bw_bytes_per_s: float
    nic_efficiency: float
    pcie_bw_bytes_per_s: float
    pcie_latency_s: float
    fabric: str
    source: str
    nvls: bool = False
    nvls_efficiency: float | None = None
    pxn: bool = False


@dataclasses.dataclass(frozen=True)
class FabricSpec:
    """One inter-node fabric. ``spines`` None means "derive from the leaf size"."""
    name: str
    topology: str
    link_bw_bytes_per_s: float
    nodes_per_leaf: int
    oversubscription: float
    spines: int | None
    hop_latency_s: float
    link_efficiency: float
    source: str
    sharp: bool = False


#: parsed preset files by (path, modification time, size): one command looks
#: presets up several times, and each file is parsed once (re-read if it changes)
_TABLES: dict[tuple, tuple[dict, str]] = {}


def _load_table(path: str | Path | None, default_file: str) -> tuple[dict, str]:
    """Read a preset file: a mapping of preset name -> mapping of fields (not to be modified)."""
    file = Path(path) if path is not None else HARDWARE_DIR / default_file
    label = file.name
    try:
        st = file.stat()
        key = (str(file.resolve()), st.st_mtime_ns, st.st_size)
    except OSError:
        key = None                      # read_text reports the problem
    if key is not None and key in _TABLES:
        return _TABLES[key]
    read = v.load_yaml if path is not None else v.load_packaged_yaml
    data = read(v.read_text(file, str(file)), label)
    v.mapping(data, "<top level>", label)
    for name, entry in data.items():
        v.mapping(entry, str(name), label)
    if key is not None:
        _TABLES[key] = (data, label)
    return data, label


def _string(value: object, field: str, file: str) -> str:
    if not isinstance(value, str) or not value:
        raise TopologyError("must be a non-empty string", file=file, field=field, value=value)
    return value


def _pick(table: dict, name: str, what: str, label: str) -> dict:
    if name not in table:
        known = ", ".join(sorted(map(str, table)))
        raise TopologyError(f"unknown {what} preset (known: {known})", field=what, value=name)
    return table[name]


_GPU_FIELDS = ("peak_dense_flops", "hbm_bytes", "hbm_bw_bytes_per_s",
               "nvlink_bw_bytes_per_s", "node", "fabric", "source")


def _gpu_from_entry(name: str, entry: dict, label: str) -> GpuSpec:
    for key in _GPU_FIELDS:
        v.required(entry, key, name, label)
    nums = {k: v.positive_float(entry[k], f"{name}.{k}", label) for k in _GPU_FIELDS[:4]}
    strs = {k: _string(entry[k], f"{name}.{k}", label) for k in _GPU_FIELDS[4:]}
    extra = {k: val for k, val in entry.items() if k not in _GPU_FIELDS}
    return GpuSpec(name=name, **nums, **strs, extra=MappingProxyType(extra))


_NODE_FLOATS = {"nvlink_bw_bytes_per_s": v.positive_float, "nvlink_latency_s": v.nonneg_float,
                "nvlink_efficiency": v.fraction, "nic_bw_bytes_per_s": v.positive_float,
                "nic_efficiency": v.fraction, "pcie_bw_bytes_per_s": v.positive_float,
                "pcie_latency_s": v.nonneg_float}
_NODE_FIELDS = frozenset(_NODE_FLOATS) | {"gpu", "gpus_per_node", "nics", "fabric", "source"}
#: optional collective capabilities: NVLink SHARP (with its achievable fraction
#: of NVLink nominal) and PXN (NIC traffic relayed through a peer GPU over NVLink)
_NODE_OPTIONAL = frozenset({"nvls", "nvls_efficiency", "pxn"})


def _node_from_entry(name: str, entry: dict, label: str) -> NodeSpec:
    v.known_keys(entry, _NODE_FIELDS | _NODE_OPTIONAL, name, label)
    for key in sorted(_NODE_FIELDS):
        v.required(entry, key, name, label)
    fields = {k: fn(entry[k], f"{name}.{k}", label) for k, fn in _NODE_FLOATS.items()}
    gpn = v.int_at_least(entry["gpus_per_node"], 1, f"{name}.gpus_per_node", label)
    nics = v.int_at_least(entry["nics"], 1, f"{name}.nics", label)
    if nics != gpn:
        raise TopologyError(f"must equal gpus_per_node ({gpn}): one NIC per GPU",
                            file=label, field=f"{name}.nics", value=nics)
    strs = {k: _string(entry[k], f"{name}.{k}", label) for k in ("gpu", "fabric", "source")}
    caps = {k: _flag(entry.get(k, False), f"{name}.{k}", label) for k in ("nvls", "pxn")}
    eff = entry.get("nvls_efficiency")
    if eff is not None:
        eff = v.fraction(eff, f"{name}.nvls_efficiency", label)
    if caps["nvls"] and eff is None:
        raise TopologyError("nvls: true needs nvls_efficiency", file=label,
                            field=f"{name}.nvls_efficiency", value=None)
    return NodeSpec(name=name, gpus_per_node=gpn, nics=nics, **fields, **strs,
                    nvls_efficiency=eff, **caps)


def _flag(value: object, field: str, file: str) -> bool:
    if not isinstance(value, bool):
        raise TopologyError("must be true or false", file=file, field=field, value=value)
    return value


_FABRIC_FIELDS = frozenset({"topology", "link_bw_bytes_per_s", "nodes_per_leaf",
                            "oversubscription", "spines", "hop_latency_s",
                            "link_efficiency", "source"})
#: optional: in-network reduction (SHARP) that NCCL's CollNet can use
_FABRIC_OPTIONAL = frozenset({"sharp"})
FABRIC_TOPOLOGIES = frozenset({"rail-optimized"})


def _fabric_from_entry(name: str, entry: dict, label: str) -> FabricSpec:
    v.known_keys(entry, _FABRIC_FIELDS | _FABRIC_OPTIONAL, name, label)
    for key in sorted(_FABRIC_FIELDS - {"spines"}):
        v.required(entry, key, name, label)
    topology = _string(entry["topology"], f"{name}.topology", label)
    if topology not in FABRIC_TOPOLOGIES:
        raise TopologyError(f"unknown fabric topology (known: {', '.join(sorted(FABRIC_TOPOLOGIES))})",
                            file=label, field=f"{name}.topology", value=topology)
    spines = entry.get("spines")
    if spines is not None:
        spines = v.int_at_least(spines, 1, f"{name}.spines", label)
    return FabricSpec(
        name=name, topology=topology, spines=spines,
        link_bw_bytes_per_s=v.positive_float(entry["link_bw_bytes_per_s"],
                                             f"{name}.link_bw_bytes_per_s", label),
        nodes_per_leaf=v.int_at_least(entry["nodes_per_leaf"], 1, f"{name}.nodes_per_leaf", label),
        oversubscription=v.positive_float(entry["oversubscription"],
                                          f"{name}.oversubscription", label),
        hop_latency_s=v.nonneg_float(entry["hop_latency_s"], f"{name}.hop_latency_s", label),
        link_efficiency=v.fraction(entry["link_efficiency"], f"{name}.link_efficiency", label),
        source=_string(entry["source"], f"{name}.source", label),
        sharp=_flag(entry.get("sharp", False), f"{name}.sharp", label))


def gpu_spec(name: str, path: str | Path | None = None) -> GpuSpec:
    """The GPU preset ``name`` (e.g. ``"h100-sxm"``) from gpus.yaml or ``path``."""
    table, label = _load_table(path, "gpus.yaml")
    return _gpu_from_entry(name, _pick(table, name, "gpu", label), label)


def node_spec(name: str, path: str | Path | None = None) -> NodeSpec:
    """The node preset ``name`` (e.g. ``"dgx-a100"``) from nodes.yaml or ``path``."""
    table, label = _load_table(path, "nodes.yaml")
    return _node_from_entry(name, _pick(table, name, "node", label), label)


def fabric_spec(name: str, path: str | Path | None = None) -> FabricSpec:
    """The fabric preset ``name`` (e.g. ``"ndr-rail"``) from fabrics.yaml or ``path``."""
    table, label = _load_table(path, "fabrics.yaml")
    return _fabric_from_entry(name, _pick(table, name, "fabric", label), label)


def list_gpus(path: str | Path | None = None) -> list[str]:
    """Names of the GPU presets, sorted."""
    return sorted(_load_table(path, "gpus.yaml")[0])


def list_nodes(path: str | Path | None = None) -> list[str]:
    """Names of the node presets, sorted."""
    return sorted(_load_table(path, "nodes.yaml")[0])


def list_fabrics(path: str | Path | None = None) -> list[str]:
    """Names of the fabric presets, sorted."""
    return sorted(_load_table(path, "fabrics.yaml")[0])
