"""Flow-level network: concurrent transfers share links max-min fairly.

Each transfer is a *flow* along a routed path. Flows started together form a
*batch* (one collective phase, one send). Whenever flows start or end, the
rates of the flows that share links with them — transitively, the connected
component of the link-sharing graph — are re-solved with
:func:`max_min_rates`; flows elsewhere keep their rates, which is exact
because max-min fair shares of disjoint components are independent. Changes
at the same simulated instant are coalesced into one re-solve.

Progress is accounted lazily: a batch's remaining bytes are brought up to
date only when its rates change, and a heap holds each batch's next
completion time.

A batch admitted onto links that no other batch occupies is *alone*: its
max-min evolution (rates re-solved as its own flows finish) depends on
nothing else, so it is computed at once (memoised by the batch's structure)
and the batch completes after a single timeout, without entering the
solver. Should another batch later arrive on one of its links, the lone batch
is brought up to date from its evolution (remaining bytes at that instant)
and joins the shared solve like any other; max-min sharing from then on is
unchanged, so the result is the same as re-solving all along. (Pipeline
sends and other traffic on private paths take this way.)

Usage (inside a SimPy process)::

    net = FlowNetwork(env, Router(graph))
    yield net.transfer([(0, 1), (2, 3)], nbytes=1e9)
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np
import simpy

from sim.network.clock import delay_to
from sim.network.maxmin import max_min_rates
from sim.network.routing import Router, RouteSet

_FINISH_S = 1e-9       # flows due within this time (s) of "now" are finished


@dataclass
class NetworkStats:
    solves: int = 0
    alone: int = 0          # batches timed alone on their links (no shared solve)
    flows: int = 0
    bytes_moved: float = 0.0


class _Batch:
    """Flows started together; ``event`` fires when the last one ends."""

    __slots__ = ("id", "event", "ptr", "flat", "share", "count", "remaining", "rates",
                 "active", "t_upd", "version", "links", "shape", "evolution",
                 "routes_key", "routes")

    def __init__(self, bid, event, routes: RouteSet, sizes, counts):
        self.id = bid
        self.event = event
        self.ptr, self.flat, self.share = routes.ptr, routes.flat, routes.share
        self.count = counts
        self.remaining = sizes.copy()
        self.rates = np.zeros(len(sizes))
        self.active = (sizes > 0) & (np.diff(self.ptr) > 0)
        self.t_upd = 0.0
        self.version = 0
        self.links = routes.unique_links
        self.routes_key = routes.key
        self.routes = routes
        # what the rates depend on besides which flows are active (None: unknown);
        # counts as (length, value) when all alike, so keys hash without hashing
        # every count (the solver reads counts as floats)
        self.shape = None if routes.key is None else (routes.key, _bytes_key(counts))
        self.evolution: _Evolution | None = None     # set while the batch is alone

    def advance(self, now: float) -> None:
        dt = now - self.t_upd
        if dt > 0:
            self.remaining -= self.rates * dt
        self.t_upd = now

    def sub_csr(self):
        lengths = np.diff(self.ptr)
        keep = np.repeat(self.active, lengths)
        return lengths[self.active], self.flat[keep], self.share[keep], self.count[self.active]


class _Evolution:
    """Max-min evolution of a batch on its own: per segment, its start offset
    (s), the flows active and remaining bytes at its start, and their rates."""

    __slots__ = ("starts", "active", "remaining", "rates", "duration_s")

    def __init__(self):
        self.starts: list[float] = []
        self.active: list[np.ndarray] = []
        self.remaining: list[np.ndarray] = []
        self.rates: list[np.ndarray] = []
        self.duration_s = 0.0

    def state_at(self, elapsed_s: float) -> tuple[np.ndarray, np.ndarray]:
        """Remaining bytes and active flags ``elapsed_s`` after the batch began."""
        k = max(i for i, t in enumerate(self.starts) if t <= elapsed_s)
        dt = elapsed_s - self.starts[k]
        rem = self.remaining[k] - self.rates[k] * dt if dt > 0 else self.remaining[k].copy()
        return rem, self.active[k].copy()


class FlowNetwork:
    """Max-min fair flow simulation on top of a :class:`Router`.

    Training steps repeat the same traffic patterns many times, so solved
    rates are memoised by the component's structure (which route sets, with
    which flows still active); route sets are cached by the router, so equal
    patterns are recognised by identity.
    """

    MEMO_SIZE = 20000

    def __init__(self, env: simpy.Environment, router: Router, alone_fast_path: bool = True):
        self.env = env
        self.router = router
        self.stats = NetworkStats()
        self.alone_fast_path = alone_fast_path
        router.capacity                 # the link table, built once up front
        # which batches share links is asked of their route sets, pairwise and
        # memoised (route-set key pair -> bool): no per-link bookkeeping
        self._meet: dict = {}
        self._alone: dict[int, _Batch] = {}
        self._evolutions: dict = {}
        self._batches: dict[int, _Batch] = {}
        self._heap: list = []
        self._next_id = 0
        self._dirty: np.ndarray | None = None   # links whose component must be re-solved
        self._marks: np.ndarray | None = None   # all False between two _meets
        self._solve_scheduled = False
        self._wake_at: float | None = None
        self._memo: dict = {}

    # -- public --------------------------------------------------------------
    def transfer(self, pairs, nbytes, count=None, salt: int = 0, latency: str = "each",
                 latency_scale: float = 1.0) -> simpy.Event:
        """Start flows ``pairs[i] = (src_gpu, dst_gpu)`` carrying ``nbytes`` each.

        ``nbytes`` and ``count`` may be scalars or per-pair sequences. Each
        flow first waits its path latency times ``latency_scale``; with
        ``latency="max"`` the whole batch waits the longest one (a
        synchronised algorithm step). Returns an event that fires when every
        flow has delivered its bytes.
        """
        routes = self.router.routes(tuple(pairs), salt)
        n = len(routes)
        sizes = np.broadcast_to(np.asarray(nbytes, dtype=float), (n,)).copy()
        counts = np.broadcast_to(np.asarray(1.0 if count is None else count, dtype=float),
                                 (n,)).copy()
        if latency == "max" or n == 0:
            delay = float(routes.latency.max()) * latency_scale if n else 0.0
            return self.send_batch(routes, sizes, counts, delay)
        # per-flow latencies: one batch per distinct latency, joined
        events = []
        lat = routes.latency * latency_scale
        if np.all(lat == lat[0]):
            return self.send_batch(routes, sizes, counts, float(lat[0]))
        for value in np.unique(lat):
            sel = np.flatnonzero(lat == value)
            events.append(self.send_batch(self.router.subset(routes, sel), sizes[sel], counts[sel],
                                          float(value)))
        return events[0] if len(events) == 1 else self.env.all_of(events)

    def send_batch(self, routes: RouteSet, sizes: np.ndarray, counts: np.ndarray,
                   delay_s: float) -> simpy.Event:
        """Start pre-routed flows after ``delay_s``; event fires when all delivered."""
        done = self.env.event()
        self.stats.flows += int(counts.sum())
        self.stats.bytes_moved += float((sizes * counts).sum())
        if delay_s > 0:
            ev = self.env.timeout(delay_s)
            ev.callbacks.append(lambda _e: self._admit(routes, sizes, counts, done))
        else:
            self._admit(routes, sizes, counts, done)
        return done

    # -- internals -----------------------------------------------------------
    def _admit(self, routes, sizes, counts, done) -> None:
        batch = _Batch(self._next_id, done, routes, sizes, counts)
        if not batch.active.any():
            done.succeed()
            return
        self._next_id += 1
        batch.t_upd = self.env.now
        links = batch.links
        met = [b for b in self._alone.values() if self._meets(batch, b)]
        if (self.alone_fast_path and not met
                and not any(self._meets(batch, b) for b in self._batches.values())):
            self._start_alone(batch)
            return
        for b in sorted(met, key=lambda b: b.id):
            self._join(b)
        self._batches[batch.id] = batch
        self._mark_dirty(links)

    def _meets(self, a: _Batch, b: _Batch) -> bool:
        """Whether batches ``a`` and ``b`` share a link."""
        ka, kb = a.routes_key, b.routes_key
        if ka is None or kb is None:
            return self._intersect(a.links, b.links)
        hit = self._meet.get((ka, kb))
        if hit is None:
            hit = self._meet[(ka, kb)] = self._meet[(kb, ka)] = self._intersect(a.links, b.links)
        return hit

    def _intersect(self, x: np.ndarray, y: np.ndarray) -> bool:
        """:func:`_intersect`; for link sets of comparable sizes by marking
        one set's links in a table of every link and reading the other's
        (linear, where a binary search per link costs a cache miss per step)."""
        if len(x) > len(y):
            x, y = y, x
        if not len(x) or len(y) > 16 * len(x) or x[-1] < y[0] or y[-1] < x[0]:
            return _intersect(x, y)
        if self._marks is None:
            self._marks = np.zeros(len(self.router.capacity), dtype=bool)
        marks = self._marks
        marks[y] = True
        hit = bool(marks[x].any())
        marks[y] = False
        return hit

    # -- batches alone on their links ------------------------------------------
    def alone_time_s(self, routes: RouteSet, sizes: np.ndarray, counts: np.ndarray) -> float:
        """How long pre-routed flows take from admission to the last delivery
        on links nothing else uses: the lone batch's evolution, exactly as
        :meth:`send_batch` would time it alone (latency not included)."""
        b = _Batch(-1, None, routes, sizes, counts)
        return self._evolution(b).duration_s if b.active.any() else 0.0

    def _evolution(self, b: _Batch) -> "_Evolution":
        key = None if b.shape is None else (self._form(b), _bytes_key(b.remaining))
        evo = self._evolutions.get(key) if key is not None else None
        if evo is None:
            evo = self._evolve(b)
            if key is not None:
                if len(self._evolutions) >= self.MEMO_SIZE:
                    self._evolutions.clear()
                self._evolutions[key] = evo
        return evo

    def _form(self, b: _Batch) -> tuple:
        """What a lone batch's evolution depends on besides its sizes: the form
        of its routes (see :meth:`Router.form`) and its counts."""
        return ("form", self.router.form(b.routes), b.shape[1])

    def _start_alone(self, b: _Batch) -> None:
        evo = b.evolution = self._evolution(b)
        self._alone[b.id] = b
        self.stats.alone += 1
        ev = self.env.timeout(evo.duration_s)
        ev.callbacks.append(lambda _e, b=b: self._finish_alone(b))

    def _evolve(self, b: _Batch) -> _Evolution:
        """The batch's max-min evolution on otherwise idle links, as the
        shared solve would step it: rates re-solved whenever flows finish."""
        evo = _Evolution()
        t, rem, active = 0.0, b.remaining.copy(), b.active.copy()
        cap = self.router.capacity
        lengths = np.diff(b.ptr)
        while active.any():
            keep = np.repeat(active, lengths)
            ptr = np.zeros(int(active.sum()) + 1, dtype=np.int64)
            np.cumsum(lengths[active], out=ptr[1:])
            key = None if b.shape is None else ((self._form(b), active.tobytes()),)
            sub = self._memo.get(key) if key is not None else None
            if sub is None:
                sub = max_min_rates(cap, ptr, b.flat[keep], b.count[active], b.share[keep])
                if key is not None:
                    self._memo[key] = sub
            rates = np.zeros(len(rem))
            rates[active] = sub
            evo.starts.append(t)
            evo.active.append(active.copy())
            evo.remaining.append(rem.copy())
            evo.rates.append(rates)
            step = float((rem[active] / sub).min())
            t += step
            rem = rem - rates * step
            due = np.full(len(rem), np.inf)
            due[active] = rem[active] / rates[active]
            active &= ~(due <= _FINISH_S)
        evo.duration_s = t
        return evo

    def _finish_alone(self, b: _Batch) -> None:
        if b.evolution is None:          # joined the shared solve meanwhile
            return
        del self._alone[b.id]
        b.evolution = None
        b.event.succeed()

    def _join(self, b: _Batch) -> None:
        """Bring lone batch ``b`` up to date and hand it to the shared solve."""
        now = self.env.now
        b.remaining, b.active = b.evolution.state_at(now - b.t_upd)
        b.t_upd = now
        b.evolution = None
        del self._alone[b.id]
        self._batches[b.id] = b
        self._mark_dirty(b.links)

    def _mark_dirty(self, links: np.ndarray) -> None:
        if self._dirty is None:
            self._dirty = np.zeros(len(self.router.capacity), dtype=bool)
        self._dirty[links] = True
        if not self._solve_scheduled:
            self._solve_scheduled = True
            ev = self.env.timeout(0)
            ev.callbacks.append(self._solve)

    def _component(self, mask: np.ndarray) -> list[_Batch]:
        """Active batches sharing links with ``mask``, transitively (``mask`` grows)."""
        comp: list[_Batch] = []
        rest = list(self._batches.values())
        grown = True
        while grown and rest:
            grown = False
            keep = []
            for b in rest:
                if mask[b.links].any():
                    mask[b.links] = True
                    comp.append(b)
                    grown = True
                else:
                    keep.append(b)
            rest = keep
        comp.sort(key=lambda b: b.id)
        return comp

    def _solve(self, _event=None) -> None:
        self._solve_scheduled = False
        now = self.env.now
        if self._dirty is None:
            return
        comp = self._component(self._dirty)
        self._dirty = None
        if not comp:
            return
        for b in comp:
            b.advance(now)
        key = None
        if all(b.shape is not None for b in comp):
            key = tuple((b.shape, b.active.tobytes()) for b in comp)
        rates = self._memo.get(key) if key is not None else None
        if rates is None:
            lengths, flats, shares, counts = [], [], [], []
            for b in comp:
                l, f, sh, c = b.sub_csr()
                lengths.append(l)
                flats.append(f)
                shares.append(sh)
                counts.append(c)
            ptr = np.zeros(sum(len(l) for l in lengths) + 1, dtype=np.int64)
            np.cumsum(np.concatenate(lengths), out=ptr[1:])
            rates = max_min_rates(self.router.capacity, ptr, np.concatenate(flats),
                                  np.concatenate(counts), np.concatenate(shares))
            if key is not None:
                if len(self._memo) >= self.MEMO_SIZE:
                    self._memo.clear()
                self._memo[key] = rates
        self.stats.solves += 1
        pos = 0
        for b in comp:
            k = int(b.active.sum())
            b.rates = np.zeros(len(b.remaining))
            b.rates[b.active] = rates[pos:pos + k]
            pos += k
            b.version += 1
            due = b.remaining[b.active] / b.rates[b.active]
            heapq.heappush(self._heap, (now + float(due.min()), b.id, b.version))
        self._schedule_wake()

    def _schedule_wake(self) -> None:
        if not self._heap:
            return
        t = self._heap[0][0]
        if self._wake_at is not None and self._wake_at <= t:
            return
        self._wake_at = t
        ev = self.env.timeout(delay_to(self.env.now, t) if t > self.env.now else 0.0)
        ev.callbacks.append(lambda _e, t=t: self._wake(t))

    def _wake(self, t: float) -> None:
        if self._wake_at != t:
            return                       # superseded by an earlier wake-up
        self._wake_at = None
        now = self.env.now
        while self._heap and self._heap[0][0] <= now + _FINISH_S:
            _, bid, version = heapq.heappop(self._heap)
            b = self._batches.get(bid)
            if b is None or b.version != version:
                continue
            b.advance(now)
            due = np.full(len(b.remaining), np.inf)
            due[b.active] = b.remaining[b.active] / b.rates[b.active]
            finished = b.active & (due <= _FINISH_S)
            b.active &= ~finished
            if not b.active.any():
                del self._batches[bid]
                b.event.succeed()
            # it and the neighbours sharing its links get new rates
            self._mark_dirty(b.links)
        self._schedule_wake()


def _bytes_key(sizes: np.ndarray):
    """A key equal for equal size vectors: (length, value) when all sizes are
    one value (the usual case: no hashing of megabytes), else the raw bytes."""
    if len(sizes) and sizes.min() == sizes.max():
        return len(sizes), float(sizes[0])
    return sizes.tobytes()


def _intersect(x: np.ndarray, y: np.ndarray) -> bool:
    """Whether two sorted arrays of distinct link indices have one in common."""
    if not len(x) or not len(y) or x[-1] < y[0] or y[-1] < x[0]:
        return False
    if len(x) > len(y):
        x, y = y, x
    pos = np.minimum(np.searchsorted(y, x), len(y) - 1)
    return bool((y[pos] == x).any())
