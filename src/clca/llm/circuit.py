"""Circuit breakers for the replicas (base URLs) of one OpenAI-compatible backend.

All requests of a backend share one `ReplicaPool`, which lives on the backend's event loop (no locks: only that
loop's thread touches it). Per replica:

- a connection failure (refused, unreachable, DNS) opens its circuit: the replica leaves the rotation, and instead
  of every request backing off on its own, one probe at a time tests it (a request whose probe finds it still
  down moves on to another replica at no cost), at growing intervals
  (`probe_backoff_s` doubling up to `MAX_PROBE_INTERVAL_S`); any reply from it closes the circuit again;
- a reply with Retry-After (429/503) pauses the replica as a whole until then;
- a request with a routing key (e.g. a conversation's id) goes to the first usable replica in that key's own
  stable order (rendezvous hashing), so every turn of a conversation reaches the replica that holds its prefix in
  cache; while that replica is down or paused the key's next replica takes over, and the key returns when it is
  back. Requests without a key go round-robin;
- requests wait together while no replica is usable; when every replica has been unreachable for `down_after_s`
  (the last probe after that bound failed too), every waiting request raises the same one-line `BackendError`.

Waiting on the pool spends none of a request's retries, so a server that comes back within the bound is used again
without any item recorded as failed.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from clca.errors import BackendError

log = logging.getLogger(__name__)
MAX_PROBE_INTERVAL_S = 2.0  # one connection attempt per replica every 2 s at most costs nothing; recovery is prompt


@dataclass
class _Circuit:
    url: str
    down_since: float | None = None  # first connection failure of the current streak; None = closed
    last_failure: float = 0.0
    reason: str = ""
    probing: bool = False
    next_probe_at: float = 0.0
    probe_delay: float = 0.0
    paused_until: float = 0.0  # from Retry-After

    def closed_and_free(self, now: float) -> bool:
        return self.down_since is None and now >= self.paused_until

    def may_probe(self, now: float) -> bool:
        return (self.down_since is not None and not self.probing and now >= self.next_probe_at
                and now >= self.paused_until)


class ReplicaPool:
    """Chooses the replica for each attempt and waits while none can be used.

    Args:
        urls: the backend's base URLs, used round-robin while their circuits are closed.
        down_after_s: how long every replica may stay unreachable before requests raise `BackendError`.
        probe_backoff_s: first interval between probes of an open circuit (doubles per failed probe).
        clock: monotonic seconds (injectable for tests).
    """

    def __init__(self, urls: list[str], down_after_s: float, probe_backoff_s: float,
                 clock: Callable[[], float] = time.monotonic):
        self._circuits = [_Circuit(url) for url in urls]
        self._by_url = {c.url: c for c in self._circuits}
        self._next = 0
        self.down_after_s = down_after_s
        self._probe_backoff_s = max(probe_backoff_s, 0.05)
        self._clock = clock
        self._changed: asyncio.Event | None = None

    async def acquire(self, key: str | None = None) -> tuple[str, bool]:
        """Wait for a usable replica.

        Args:
            key: routing key (affinity): requests with the same key use the same replica while it is usable.

        Returns:
            (url, is_probe): a closed replica in rotation, or an open one this request is to probe.

        Raises:
            BackendError: every replica has been unreachable for `down_after_s`.
        """
        while True:
            now = self._clock()
            chosen = self._choose(now, key)
            if chosen is not None:
                return chosen
            if self._all_down():
                raise BackendError(self._down_message())
            changed = self._event()
            try:
                await asyncio.wait_for(changed.wait(), timeout=max(0.0, self._next_change(now) - now))
            except TimeoutError:
                pass

    def report_reached(self, url: str, probe: bool, pause_s: float | None = None) -> None:
        """The replica answered (with anything, even an error status): its circuit closes."""
        circuit = self._by_url[url]
        if circuit.down_since is not None:
            log.warning("server %s answers again", url)
        circuit.down_since, circuit.probe_delay = None, 0.0
        if probe:
            circuit.probing = False
        if pause_s is not None and pause_s > 0:
            circuit.paused_until = max(circuit.paused_until, self._clock() + pause_s)
        self._notify()

    def report_unreachable(self, url: str, probe: bool, reason: str) -> None:
        """A connection to the replica failed: open its circuit (or keep it open) and schedule the next probe."""
        circuit, now = self._by_url[url], self._clock()
        circuit.reason, circuit.last_failure = reason, now
        if circuit.down_since is None:
            log.warning("server %s: %s — holding its requests until it answers (for at most %g s)", url, reason,
                        self.down_after_s)
            circuit.down_since, circuit.probe_delay = now, self._probe_backoff_s
            circuit.next_probe_at = now + circuit.probe_delay
        elif probe:
            circuit.probe_delay = min(circuit.probe_delay * 2, MAX_PROBE_INTERVAL_S)
            circuit.next_probe_at = now + circuit.probe_delay
        bound = circuit.down_since + self.down_after_s
        if circuit.next_probe_at > bound > now:  # one last probe exactly at the bound decides
            circuit.next_probe_at = bound
        if probe:
            circuit.probing = False
        self._notify()

    def release_probe(self, url: str) -> None:
        """A probe ended without an answer either way (the request was cancelled)."""
        self._by_url[url].probing = False
        self._notify()

    # ---- internals -----------------------------------------------------------------------------------------
    def preference(self, key: str) -> list[str]:
        """The replicas in `key`'s order of preference: highest sha256(key, url) first, so the order is the same in
        every process and removing one replica moves only the keys that preferred it."""
        def weight(circuit: _Circuit) -> bytes:
            return hashlib.sha256(f"{key}\0{circuit.url}".encode()).digest()

        return [c.url for c in sorted(self._circuits, key=weight, reverse=True)]

    def _choose(self, now: float, key: str | None = None) -> tuple[str, bool] | None:
        # a due probe goes first, even while other replicas answer: else a replica that was down would never
        # rejoin the rotation (nor get its conversations back) as long as another one is up; a keyed request
        # probes only a replica it prefers to every usable one (its home), so no conversation is moved for it
        if key is not None:
            for url in self.preference(key):
                circuit = self._by_url[url]
                if circuit.closed_and_free(now):
                    return url, False
                if circuit.may_probe(now):
                    circuit.probing = True
                    return url, True
            return None
        probe = self._probe_choice(now)
        if probe is not None:
            return probe
        n = len(self._circuits)
        for k in range(n):
            index = (self._next + k) % n
            if self._circuits[index].closed_and_free(now):
                self._next = (index + 1) % n
                return self._circuits[index].url, False
        return None

    def _probe_choice(self, now: float) -> tuple[str, bool] | None:
        for circuit in self._circuits:
            if circuit.may_probe(now):
                circuit.probing = True
                return circuit.url, True
        return None

    def _all_down(self) -> bool:
        return all(c.down_since is not None and not c.probing and c.last_failure >= c.down_since + self.down_after_s
                   for c in self._circuits)

    def _down_message(self) -> str:
        reasons = sorted({c.reason for c in self._circuits})
        urls = ", ".join(c.url for c in self._circuits)
        if len(self._circuits) == 1:
            return f"server {urls}: {reasons[0]} for {self.down_after_s:g} s — is it running? rerun to resume"
        return (f"servers {urls}: {' / '.join(reasons)} for {self.down_after_s:g} s — are they running? "
                "rerun to resume")

    def _next_change(self, now: float) -> float:
        """When waiting could end without news: a pause ends or a probe falls due (else a probe is in flight)."""
        times = []
        for c in self._circuits:
            if c.down_since is None:
                times.append(c.paused_until)
            elif not c.probing:
                times.append(max(c.next_probe_at, c.paused_until))
        return min(times) if times else now + MAX_PROBE_INTERVAL_S

    def _event(self) -> asyncio.Event:
        if self._changed is None:
            self._changed = asyncio.Event()
        return self._changed

    def _notify(self) -> None:
        """Wake every waiter (each takes a fresh look at the circuits)."""
        if self._changed is not None:
            self._changed.set()
            self._changed = None
