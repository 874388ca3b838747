"""Human labels and units for scenario keys and result metrics.

``label("parallelism.pp")`` is "Pipeline-parallel size", ``label("mfu")`` is
"MFU (%)" with ``scale("mfu")`` 100 (the stored value is a fraction). Keys
not in :data:`KNOWN` get a label from their name: the last dotted part,
underscores as spaces, and a unit from the suffix (``_s`` seconds, ``_bytes``,
``_gb``, ``_h``, ``_days``, ``_fraction`` as %).
"""
from __future__ import annotations

#: key -> (label, unit or "", factor from the stored value to the one shown)
KNOWN: dict[str, tuple[str, str, float]] = {
    # scenario keys
    "cluster.gpus": ("GPUs", "", 1.0),
    "cluster.gpu": ("GPU type", "", 1.0),
    "cluster.gpus_per_node": ("GPUs per node", "", 1.0),
    "parallelism.tp": ("Tensor-parallel size", "", 1.0),
    "parallelism.pp": ("Pipeline-parallel size", "", 1.0),
    "parallelism.dp": ("Data-parallel size", "", 1.0),
    "parallelism.cp": ("Context-parallel size", "", 1.0),
    "parallelism.ep": ("Expert-parallel size", "", 1.0),
    "parallelism.etp": ("Expert tensor-parallel size", "", 1.0),
    "parallelism.vpp": ("Virtual pipeline stages per GPU", "", 1.0),
    "parallelism.zero": ("ZeRO stage", "", 1.0),
    "parallelism.schedule": ("Pipeline schedule", "", 1.0),
    "parallelism.recompute": ("Activation recomputation", "", 1.0),
    "parallelism.sequence_parallel": ("Sequence parallelism", "", 1.0),
    "training.global_batch": ("Global batch", "sequences", 1.0),
    "training.micro_batch": ("Micro-batch", "sequences", 1.0),
    "training.seq_len": ("Sequence length", "tokens", 1.0),
    "training.dtype": ("Precision", "", 1.0),
    "faults.job_mtbf_h": ("Job MTBF", "h", 1.0),
    "faults.rate_scale": ("Failure rate", "× reference", 1.0),
    "faults.restart_s": ("Restart time", "s", 1.0),
    "faults.detection_s": ("Detection time", "s", 1.0),
    "checkpoint.interval_s": ("Checkpoint interval", "min", 1 / 60),
    "checkpoint.mode": ("Checkpointing", "", 1.0),
    "checkpoint.stall_s": ("Checkpoint stall", "s", 1.0),
    "run.days": ("Horizon", "days", 1.0),
    "sim.seed": ("Seed", "", 1.0),
    # step metrics
    "step_time_s": ("Step time", "s", 1.0),
    "tokens_per_s": ("Throughput", "tokens/s", 1.0),
    "mfu": ("MFU", "%", 100.0),
    "hfu": ("HFU", "%", 100.0),
    "tflops_per_gpu": ("Model TFLOP/s per GPU", "TFLOP/s", 1.0),
    "gpus": ("GPUs", "", 1.0),
    "memory_gb_per_gpu": ("Memory per GPU", "GB", 1.0),
    "breakdown.compute_s": ("Compute time per step", "s", 1.0),
    "breakdown.exposed_comm_s": ("Exposed communication per step", "s", 1.0),
    "breakdown.bubble_s": ("Pipeline bubble per step", "s", 1.0),
    "breakdown.comm_s": ("Communication per step", "s", 1.0),
    "breakdown.sync_wait_s": ("Synchronisation wait per step", "s", 1.0),
    # run metrics
    "reliability.goodput_fraction": ("Goodput", "%", 100.0),
    "reliability.ettr": ("ETTR", "%", 100.0),
    "reliability.interruptions": ("Interruptions", "", 1.0),
    "reliability.time_to_train_days": ("Time to train", "days", 1.0),
    "reliability.checkpoint_interval_s": ("Checkpoint interval", "min", 1 / 60),
    "reliability.mtbf_h": ("Job MTBF", "h", 1.0),
    "goodput": ("Goodput", "%", 100.0),
    "time_to_train_days": ("Time to train", "days", 1.0),
    "stragglers.slowdown": ("Straggler slowdown", "×", 1.0),
}

_SUFFIXES = (("_fraction", "%", 100.0), ("_bytes", "bytes", 1.0), ("_days", "days", 1.0),
             ("_gb", "GB", 1.0), ("_s", "s", 1.0), ("_h", "h", 1.0))


def _lookup(key: str) -> tuple[str, str, float]:
    if key in KNOWN:
        return KNOWN[key]
    for prefix in ("reliability.", "result."):
        if key.startswith(prefix) and key[len(prefix):] in KNOWN:
            return KNOWN[key[len(prefix):]]
    name = key.rsplit(".", 1)[-1]
    for suffix, unit, factor in _SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)].replace("_", " ").capitalize(), unit, factor
    return name.replace("_", " ").capitalize(), "", 1.0


def label(key: str) -> str:
    """Axis or legend label of ``key`` with its unit, e.g. "Step time (s)"."""
    text, unit, _ = _lookup(key)
    return f"{text} ({unit})" if unit else text


def name(key: str) -> str:
    """``key``'s label without the unit, e.g. "Pipeline-parallel size"."""
    return _lookup(key)[0]


def scale(key: str) -> float:
    """Factor from the stored value of ``key`` to the value shown (100 for fractions in %)."""
    return _lookup(key)[2]
