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

The interval (``auto``: Daly's optimum for delta = the stall) never falls
below a floor: one training step; for sync checkpoints the stall (a job that
checkpoints more often than it takes to write one spends most of its time
writing); for async checkpoints the persist time (the next snapshot cannot
start before the previous one is on storage, so a shorter interval is not
what the job does). In-memory checkpoints are persisted only every n-th time,
so their floor is the stall.

Restart time can grow with the job: ``restart_s + restart_s_per_node x
nodes`` (:func:`restart_time_s`). Rendezvous through a single key-value store
and the set-up of every communicator touch each rank, so start-up work grows
linearly with the rank count; MegaScale (Jiang et al., "MegaScale: Scaling
Large Language Model Training to More Than 10,000 GPUs", NSDI 2024, section
3.5) measured start-up of multi-thousand-GPU jobs dominated by this set-up
and cut it by orders of magnitude (a Redis store, ordered initialisation).
The per-node term defaults to 0 (a fixed ``restart_s``); set it to study jobs
whose start-up has not been optimised that way.
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
    interval_floor_s: float = 0.0

    @property
    def restore_after_failure_s(self) -> float:
        """Restore time of the usual recovery: from peers' memory (in-memory
        mode) or from storage."""
        return self.memory_restore_s if self.mode == "in-memory" else self.restore_s


def restart_time_s(restart_s: float, restart_s_per_node: float, nodes: int) -> float:
    """Restart time of a job on ``nodes`` nodes (see the module docstring)."""
    return restart_s + restart_s_per_node * nodes


def _pick(explicit: float | None, derived: float | None, default: float = 0.0) -> float:
    if explicit is not None:
        return float(explicit)
    return float(derived) if derived is not None else default


def resolve_costs(cfg: CheckpointConfig, nodes: int, mtbf_s: float,
                  min_interval_s: float) -> CheckpointCosts:
    """Costs for a job on ``nodes`` nodes whose failures come every ``mtbf_s``.

    ``interval_s: auto`` uses Daly's optimum for delta = the stall; auto or
    not, the interval is never shorter than ``min_interval_s`` (one training
    step) nor than the stall (sync, in-memory) or the persist time (async).
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
    floor = max(min_interval_s, persist if cfg.mode == "async" else stall)
    if cfg.interval_s == "auto":
        interval = daly_interval_s(stall, mtbf_s)
    else:
        interval = float(cfg.interval_s)
    return CheckpointCosts(cfg.mode, stall, persist, restore, mem_restore,
                           max(interval, floor), cfg.persist_every, cfg.in_memory_copies,
                           floor)
