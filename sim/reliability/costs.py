"""Checkpoint costs (seconds) from the ``checkpoint`` section.

With ``size_bytes`` S, storage bandwidths B_save and B_load, N nodes and
per-node copy bandwidths b_host (GPU to host) and b_peer (to a peer's memory):

==========  ======================  ===============  ==============
mode        stall per checkpoint    background       restore
==========  ======================  ===============  ==============
sync        S / B_save              none             S / B_load
async       (S / N) / b_host        S / B_save       S / B_load
in-memory   (S / N) / b_peer        S / B_save (*)   (S / N) / b_peer from
                                                     peers; S / B_load from
                                                     storage if a shard's
                                                     every copy was lost
==========  ======================  ===============  ==============

(*) every ``persist_every``-th checkpoint only. An explicit ``stall_s``,
``persist_s``, ``restore_s`` or ``memory_restore_s`` replaces the derived value.
"""
from __future__ import annotations

from dataclasses import dataclass

from .config import CheckpointConfig
from .formulas import daly_interval_s


@dataclass(frozen=True)
class CheckpointCosts:
    """Resolved costs, seconds: ``stall_s`` (training stops), ``persist_s``
    (background write; the checkpoint is usable on storage only after it),
    ``restore_s`` (load from storage), ``memory_restore_s`` (in-memory: load
    from peers), ``interval_s`` (training time between checkpoints)."""

    mode: str
    stall_s: float
    persist_s: float
    restore_s: float
    memory_restore_s: float
    interval_s: float
    persist_every: int
    in_memory_copies: int


def _pick(explicit: float | None, derived: float | None, default: float = 0.0) -> float:
    if explicit is not None:
        return float(explicit)
    return float(derived) if derived is not None else default


def resolve_costs(cfg: CheckpointConfig, nodes: int, mtbf_s: float,
                  min_interval_s: float) -> CheckpointCosts:
    """Costs for a job on ``nodes`` nodes whose failures come every ``mtbf_s``.

    ``interval_s: auto`` uses Daly's optimum for delta = the stall, never
    shorter than ``min_interval_s`` (one training step).
    """
    size = cfg.size_bytes
    per_node = size / nodes if size is not None else None
    on_storage = size / cfg.save_bytes_per_s if size is not None else None
    from_storage = size / cfg.load_bytes_per_s if size is not None else None
    restore = _pick(cfg.restore_s, from_storage)
    if cfg.mode == "sync":
        stall = _pick(cfg.stall_s, on_storage)
        persist, mem_restore = 0.0, restore
    elif cfg.mode == "async":
        host = per_node / cfg.host_copy_bytes_per_s_per_node if size is not None else None
        stall = _pick(cfg.stall_s, host)
        persist, mem_restore = _pick(cfg.persist_s, on_storage), restore
    else:
        peer = per_node / cfg.peer_copy_bytes_per_s_per_node if size is not None else None
        stall = _pick(cfg.stall_s, peer)
        persist = _pick(cfg.persist_s, on_storage)
        mem_restore = _pick(cfg.memory_restore_s, peer)
    if cfg.interval_s == "auto":
        interval = max(daly_interval_s(stall, mtbf_s), min_interval_s)
    else:
        interval = float(cfg.interval_s)
    return CheckpointCosts(cfg.mode, stall, persist, restore, mem_restore, interval,
                           cfg.persist_every, cfg.in_memory_copies)
