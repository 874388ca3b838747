"""Flow-level network: concurrent transfers share links max-min fairly.

Each transfer is a *flow* along a routed path. Whenever the set of active
flows changes (a flow starts or ends), rates are re-solved with
:func:`max_min_rates`. Changes that happen at the same simulated instant are
coalesced into one re-solve. A transfer first waits its path latency, then
moves its bytes at the rate the fair share gives it.

Usage (inside a SimPy process)::

    net = FlowNetwork(env, Router(graph))
    done = net.transfer([(0, 1), (2, 3)], nbytes=1e9)
    yield done
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import simpy

from sim.network.maxmin import max_min_rates
from sim.network.routing import Router

_DONE_REL = 1e-12


@dataclass
class _Batch:
    """Flows started together; ``event`` fires when the last one ends."""

    event: simpy.Event
    outstanding: int


@dataclass
class NetworkStats:
    solves: int = 0
    flows: int = 0
    bytes_moved: float = 0.0


class FlowNetwork:
    """Max-min fair flow simulation on top of a :class:`Router`."""

    def __init__(self, env: simpy.Environment, router: Router):
        self.env = env
        self.router = router
        self.stats = NetworkStats()
        # active flows (parallel lists, compacted on completion)
        self._links: list[np.ndarray] = []
        self._remaining = np.zeros(0)
        self._count = np.zeros(0)
        self._batch: list[_Batch] = []
        self._rates = np.zeros(0)
        self._initial = np.zeros(0)
        self._pending: list[tuple[np.ndarray, float, float, _Batch]] = []
        self._last_t = 0.0
        self._solve_scheduled = False
        self._token = 0

    # -- public --------------------------------------------------------------
    def transfer(self, pairs, nbytes, count=None, salt: int = 0,
                 extra_latency_s: float = 0.0, latency: str = "each",
                 latency_scale: float = 1.0) -> simpy.Event:
        """Start flows ``pairs[i] = (src_gpu, dst_gpu)`` carrying ``nbytes`` each.

        ``nbytes`` and ``count`` may be scalars or per-pair sequences. With
        ``latency="each"`` every flow waits its own path latency plus
        ``extra_latency_s``; with ``latency="max"`` all wait the longest path
        latency of the batch (a synchronised algorithm step) plus the extra.
        Returns an event that fires when every flow has delivered its bytes.
        """
        n = len(pairs)
        sizes = np.broadcast_to(np.asarray(nbytes, dtype=float), (n,))
        counts = np.broadcast_to(np.asarray(1.0 if count is None else count, dtype=float), (n,))
        done = self.env.event()
        if n == 0:
            done.succeed()
            return done
        routes = [self.router.path(s, d, salt) for s, d in pairs]
        lat = np.array([r[1] for r in routes]) * latency_scale
        if latency == "max":
            lat[:] = lat.max()
        lat += extra_latency_s
        batch = _Batch(done, n)
        self.stats.flows += int(counts.sum())
        self.stats.bytes_moved += float((sizes * counts).sum())
        by_delay: dict[float, list] = {}
        for (links, _), size, c, delay in zip(routes, sizes, counts, lat.tolist()):
            by_delay.setdefault(delay, []).append((links, size, c))
        for delay, flows in by_delay.items():
            if delay > 0:
                self.env.process(self._delayed(flows, batch, delay))
            else:
                self._add_all(flows, batch)
        return done

    # -- internals -----------------------------------------------------------
    def _delayed(self, flows, batch, delay):
        yield self.env.timeout(delay)
        self._add_all(flows, batch)

    def _add_all(self, flows, batch: _Batch) -> None:
        for links, size, c in flows:
            if size <= 0 or len(links) == 0:
                self._finish(batch)
            else:
                self._pending.append((links, size, c, batch))
        if self._pending:
            self._request_solve()

    def _finish(self, batch: _Batch) -> None:
        batch.outstanding -= 1
        if batch.outstanding == 0:
            batch.event.succeed()

    def _request_solve(self) -> None:
        if not self._solve_scheduled:
            self._solve_scheduled = True
            ev = self.env.timeout(0)
            ev.callbacks.append(self._solve)

    def _advance(self) -> None:
        dt = self.env.now - self._last_t
        if dt > 0 and len(self._remaining):
            moved = self._rates * dt
            self._remaining = self._remaining - moved
        self._last_t = self.env.now

    def _solve(self, _event=None) -> None:
        self._solve_scheduled = False
        self._advance()
        # retire finished flows
        if len(self._remaining):
            finished = self._remaining <= self._tolerance
            if finished.any():
                keep = ~finished
                for i in np.flatnonzero(finished):
                    self._finish(self._batch[i])
                self._links = [l for l, k in zip(self._links, keep) if k]
                self._batch = [b for b, k in zip(self._batch, keep) if k]
                self._remaining = self._remaining[keep]
                self._count = self._count[keep]
                self._initial = self._initial[keep]
        # admit pending flows
        if self._pending:
            self._links.extend(p[0] for p in self._pending)
            self._batch.extend(p[3] for p in self._pending)
            self._remaining = np.concatenate([self._remaining, [p[1] for p in self._pending]])
            self._count = np.concatenate([self._count, [p[2] for p in self._pending]])
            self._initial = np.concatenate([self._initial, [p[1] for p in self._pending]])
            self._pending = []
        self._token += 1
        if not len(self._remaining):
            self._rates = np.zeros(0)
            return
        ptr = np.zeros(len(self._links) + 1, dtype=np.int64)
        np.cumsum([len(l) for l in self._links], out=ptr[1:])
        flat = np.concatenate(self._links)
        self._rates = max_min_rates(self.router.capacity, ptr, flat, self._count)
        self.stats.solves += 1
        dt = float(np.min(self._remaining / self._rates))
        token = self._token
        ev = self.env.timeout(max(dt, 0.0))
        ev.callbacks.append(lambda _e: self._wake(token))

    @property
    def _tolerance(self) -> np.ndarray:
        return np.maximum(self._initial * 1e-9, 1e-6)

    def _wake(self, token: int) -> None:
        if token == self._token:
            self._request_solve()
