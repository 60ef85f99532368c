"""Response cache: a SQLite file (WAL mode) shared by all processes, wrapped around any backend.

Key = sha256 of (cache format version, operation, model identity — backend, model, weights sha256, adapter and
its sha256, the server's base URL(s) for served models — and the full request: messages, sampling parameters,
seed, stop strings, or the options to score).

What is cached:
- `generate`: only successful results of *reproducible* requests — greedy (`temperature == 0`) or seeded.
  Unseeded sampling is meant to differ from call to call, so it always goes to the model.
- `score_options`: always (deterministic given the identity), except `ScoringFailure`s.
A hit returns exactly the stored result with `cached=True`. Failures are never cached: a rerun retries them.
No API key is ever part of a key or a value (requests and identities do not contain one).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, InvalidStateError
from pathlib import Path

from clca.llm.base import (
    Backend,
    GenerationRequest,
    GenerationResult,
    ModelIdentity,
    OptionScoringRequest,
    ProgressCallback,
    ScoringFailure,
)
from clca.paths import cache_dir

log = logging.getLogger(__name__)

# Bump when the meaning of a stored value changes (e.g. how options are scored), so old entries stop matching.
CACHE_FORMAT = 1


def default_cache_path() -> Path:
    return cache_dir() / "responses.sqlite"


def cache_key(operation: str, identity: ModelIdentity, request: GenerationRequest | OptionScoringRequest) -> str:
    payload = {
        "format": CACHE_FORMAT,
        "op": operation,
        # `server` only when set: keys of local models stay what they were before the field existed
        "model": identity.model_dump(mode="json", exclude={"server"} if identity.server is None else None),
        "request": request.model_dump(mode="json"),
    }
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def is_cacheable(request: GenerationRequest) -> bool:
    return request.temperature == 0.0 or request.seed is not None


class ResponseCache:
    """Key → JSON value store in SQLite. Safe for several threads and several processes writing at once."""

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path is not None else default_cache_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()

    def _connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "pid", None) != os.getpid():  # never share a connection across fork
            conn = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=60000")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, op TEXT NOT NULL, "
                "value TEXT NOT NULL, created REAL NOT NULL)"
            )
            self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    def get_many(self, keys: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        conn = self._connection()
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), 500):  # stay under SQLite's bound-parameter limit
            chunk = unique[start:start + 500]
            rows = conn.execute(
                f"SELECT key, value FROM responses WHERE key IN ({','.join('?' * len(chunk))})", chunk
            ).fetchall()
            found.update(rows)
        return found

    def put_many(self, items: Sequence[tuple[str, str, str]]) -> None:
        """Store (key, op, value) triples in one transaction."""
        if not items:
            return
        conn = self._connection()
        now = time.time()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(
                "INSERT OR REPLACE INTO responses (key, op, value, created) VALUES (?, ?, ?, ?)",
                [(k, op, v, now) for k, op, v in items],
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def __len__(self) -> int:
        return self._connection().execute("SELECT COUNT(*) FROM responses").fetchone()[0]

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


class CachedBackend(Backend):
    """Wraps a backend; serves repeated requests from the response cache. Other attributes pass through."""

    def __init__(self, inner: Backend, cache: ResponseCache | None = None):
        self.inner = inner
        self.spec = inner.spec
        self.cache = cache or ResponseCache()

    def __getattr__(self, name: str):  # tokenizer, model_dir, … of the wrapped backend
        if name == "inner":  # not yet set (e.g. during unpickling): avoid infinite recursion
            raise AttributeError(name)
        return getattr(self.inner, name)

    @property
    def identity(self) -> ModelIdentity:
        return self.inner.identity

    def generate(
        self, requests: Sequence[GenerationRequest], progress: ProgressCallback | None = None
    ) -> list[GenerationResult]:
        identity = self.identity
        keys = [cache_key("generate", identity, r) if is_cacheable(r) else None for r in requests]
        stored = self.cache.get_many([k for k in keys if k])
        results: list[GenerationResult | None] = [None] * len(requests)
        misses = []
        for i, key in enumerate(keys):
            if key is not None and key in stored:
                results[i] = GenerationResult.model_validate_json(stored[key]).model_copy(update={"cached": True})
            else:
                misses.append(i)
        if progress and len(misses) < len(requests):
            progress(len(requests) - len(misses))
        if misses:
            fresh = self.inner.generate([requests[i] for i in misses], progress)
            to_store = []
            for i, result in zip(misses, fresh, strict=True):
                results[i] = result
                if keys[i] is not None and result.ok:
                    to_store.append((keys[i], "generate", result.model_dump_json()))
            self.cache.put_many(to_store)
        return results  # type: ignore[return-value]

    @property
    def supports_submit(self) -> bool:  # type: ignore[override]
        return self.inner.supports_submit

    @property
    def max_in_flight(self) -> int:
        return self.inner.max_in_flight

    def submit(self, request: GenerationRequest) -> Future[GenerationResult]:
        key = cache_key("generate", self.identity, request) if is_cacheable(request) else None
        if key is not None:
            stored = self.cache.get_many([key])
            if key in stored:
                hit: Future[GenerationResult] = Future()
                hit.set_result(GenerationResult.model_validate_json(stored[key]).model_copy(update={"cached": True}))
                return hit
        inner = self.inner.submit(request)
        if key is None:
            return inner
        # resolve only after the result is stored, so whoever sees it can rely on it being cached
        outer: Future[GenerationResult] = Future()

        def store(done: Future[GenerationResult]) -> None:
            if done.cancelled():
                outer.cancel()
                return
            try:
                result = done.result()
                if result.ok:
                    self.cache.put_many([(key, "generate", result.model_dump_json())])
            except BaseException as exc:  # noqa: BLE001 - handed to the caller through the future
                settle(outer.set_exception, exc)
                return
            settle(outer.set_result, result)

        def settle(setter, value) -> None:
            try:
                setter(value)
            except InvalidStateError:  # the caller cancelled `outer` meanwhile (e.g. Ctrl-C): nobody waits for it
                pass

        inner.add_done_callback(store)
        outer.add_done_callback(lambda done: inner.cancel() if done.cancelled() else None)
        return outer

    def score_options(
        self, requests: Sequence[OptionScoringRequest], progress: ProgressCallback | None = None
    ) -> list[list[float]]:
        identity = self.identity
        keys = [cache_key("score_options", identity, r) for r in requests]
        stored = self.cache.get_many(keys)
        scores: list[list[float] | None] = [None] * len(requests)
        misses = []
        for i, key in enumerate(keys):
            if key in stored:
                scores[i] = json.loads(stored[key])
            else:
                misses.append(i)
        if progress and len(misses) < len(requests):
            progress(len(requests) - len(misses))
        if misses:
            fresh = self.inner.score_options([requests[i] for i in misses], progress)
            for i, s in zip(misses, fresh, strict=True):
                scores[i] = s
            self.cache.put_many([(keys[i], "score_options", json.dumps(scores[i])) for i in misses
                                 if not isinstance(scores[i], ScoringFailure)])  # a rerun retries failures
        return scores  # type: ignore[return-value]

    def close(self) -> None:
        self.inner.close()
        self.cache.close()
