"""OpenAI-compatible HTTP backend (`openai:<model>@<base_url>[,<base_url>…]`): vLLM, TGI, llama.cpp server, OpenAI…

- aiohttp under the sync interface: each backend owns one event loop in a daemon thread and one keep-alive
  session, so connections survive from one `generate` batch to the next, and callers with their own running loop
  (Jupyter) work too; at most `cfg.concurrency` requests are in flight. Besides batches, `submit(request)` returns
  a future at once — role-play sends each conversation's next turn that way as soon as the last is answered.
  aiohttp rather than httpx because the client's CPU time per request is the orchestration bottleneck: 0.25 ms
  per request versus 0.95 ms for httpx (1,200 chat requests at concurrency 64 against the local test server);
- retries (up to `cfg.max_retries`) on 429, 408, 5xx, timeouts, connection errors and malformed/empty replies,
  with exponential backoff and jitter starting at `cfg.retry_backoff_s`; a server's Retry-After wins;
- several base URLs are used round-robin, attempt by attempt (a retry goes to the next server); a request with a
  `routing_key` (role-play: the conversation id) keeps to its own replica instead (affinity, see
  `clca.llm.circuit`), so each turn reuses the prefix cache that replica built for the earlier turns;
- connection failures (refused, unreachable, DNS) go to a circuit breaker per base URL (`clca.llm.circuit`): the
  replica leaves the rotation, one probe at a time tests it, requests wait together without spending retries, and
  when every replica has been unreachable for `cfg.down_after_s` the stage stops with one line (`BackendError`);
  a Retry-After pauses the replica that sent it as a whole;
- the API key comes only from the environment variable named by `cfg.api_key_env`; it is sent in the
  Authorization header and never logged, cached or stored;
- a request whose retries are exhausted comes back as `GenerationResult.failure(reason)`; the batch goes on;
  a reply that says every request will fail (401/403 key, 404 URL or model, untrusted TLS certificate) raises
  `BackendError` instead, so a misconfigured run stops with one line rather than filling its files with failures.

`score_options` uses prompt log-probabilities from `/v1/completions` with `echo: true, logprobs: 1, max_tokens: 1`
(supported by vLLM; not by OpenAI's hosted chat models). The chat prompt is rendered client-side with the HF
tokenizer named by `cfg.tokenizer` (the served model's own tokenizer), exactly as the local backends do: the
option is scored as prompt + option + end-of-turn, and the log-probs of the tokens from the option's first
character onwards are summed.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import email.utils
import errno
import json
import logging
import os
import random
import ssl
import threading
import time
import urllib.parse
import urllib.request
import weakref
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

import aiohttp

from clca.errors import BackendError
from clca.llm.base import (
    Backend,
    GenerationRequest,
    GenerationResult,
    ModelIdentity,
    OptionScoringRequest,
    ProgressCallback,
    ScoringFailure,
)
from clca.llm.circuit import ReplicaPool
from clca.llm.config import ModelConfig
from clca.llm.redact import leaks, redact
from clca.llm.spec import BackendSpec, server_identity
from clca.llm.weights import adapter_sha256, check_adapter_dir

log = logging.getLogger(__name__)
T = TypeVar("T")

RETRYABLE_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}
MAX_RETRY_AFTER_S = 300.0  # a server asking for longer than this is treated as down
MAX_BACKOFF_S = 60.0
CONNECT_TIMEOUT_S = 10.0  # a host that does not answer a TCP handshake within this is unreachable


class _Retryable(Exception):
    def __init__(self, reason: str, retry_after: float | None = None):
        super().__init__(reason)
        self.reason, self.retry_after = reason, retry_after


class _Unreachable(Exception):
    """No connection could be made (refused, unreachable, DNS): a matter for the replica's circuit."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class _Fatal(Exception):
    """A reply no retry can fix (e.g. HTTP 400/401/404)."""

    def __init__(self, reason: str, status: int):
        super().__init__(reason)
        self.reason, self.status = reason, status

    @property
    def affects_every_request(self) -> bool:
        """A wrong key (401/403), URL or model name (404), or an untrusted certificate (status 0) fails every
        request alike: stop with one clear error instead of recording each item as failed. Anything else (e.g. a
        400 for one over-long prompt) is about this request only."""
        return self.status in {0, 401, 403, 404}


def _valid_unicode(text: str) -> str:
    """JSON escapes can carry lone surrogates (not text; no file or cache stores them): pairs joined, others U+FFFD."""
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace") if not text.isascii() else text


def _parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:  # HTTP-date form
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - time.time())
    except (TypeError, ValueError):
        return None


class _HttpRuntime:
    """An asyncio loop in a daemon thread plus the aiohttp session living on it.

    Sync callers submit coroutines with `run`; the session (and its keep-alive connections) is created on first use
    and kept until `close`. At most `concurrency` requests are in flight (the semaphore; the connector never opens
    more connections than that either).
    """

    def __init__(self, headers: dict[str, str], concurrency: int, timeout_s: float, tls: bool):
        self._headers, self._concurrency, self._timeout_s, self._tls = headers, concurrency, timeout_s, tls
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name="clca-openai-http", daemon=True)
        self._thread.start()
        self._session: aiohttp.ClientSession | None = None
        self._slots: asyncio.Semaphore | None = None
        self.pid = os.getpid()

    def _serve(self) -> None:
        try:
            self._loop.run_forever()
        finally:
            self._loop.close()

    async def session(self) -> tuple[aiohttp.ClientSession, asyncio.Semaphore]:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                headers=self._headers,
                connector=aiohttp.TCPConnector(limit=self._concurrency, limit_per_host=self._concurrency,
                                               ssl=_tls_context() if self._tls else True),
                timeout=aiohttp.ClientTimeout(total=self._timeout_s,
                                              sock_connect=min(self._timeout_s, CONNECT_TIMEOUT_S)),
                # trust_env would re-read ~/.netrc and the proxy variables on every request (in a thread pool:
                # that was most of the client's CPU time); proxies are resolved once per base URL instead
                trust_env=False,
            )
            self._slots = asyncio.Semaphore(self._concurrency)
        assert self._slots is not None
        return self._session, self._slots

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        return asyncio.run_coroutine_threadsafe(_observed(coro), self._loop)

    async def _close_session(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        future = self.submit(coro)
        try:
            return future.result()
        except BaseException:
            future.cancel()  # e.g. Ctrl-C in the caller: stop the batch's requests too
            raise

    def close(self) -> None:
        if not self._thread.is_alive():
            return
        if threading.current_thread() is self._thread:
            # the backend was garbage-collected by a callback on this very loop (its last request just finished):
            # waiting here would block the loop on itself, so let the loop close the session and stop on its own
            closing = self._loop.create_task(self._close_session())
            closing.add_done_callback(lambda _: self._loop.stop())
            return
        self.submit(self._close_session()).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)  # the thread closes the loop as it ends


class OpenAIBackend(Backend):
    def __init__(self, spec: BackendSpec, cfg: ModelConfig):
        self.spec = cfg.spec
        self.cfg = cfg
        self.model_name = spec.model or ""
        self.base_urls = list(spec.base_urls)
        self._api_key: str | None = None
        if cfg.api_key_env:
            key = os.environ.get(cfg.api_key_env, "").strip()  # a key read from a file ends in "\n" or "\r\n"
            if not key.isprintable() or " " in key:
                raise BackendError(f"environment variable {cfg.api_key_env} holds spaces or control characters "
                                   "inside the key — export the key alone")
            if not key:
                raise BackendError(
                    f"environment variable {cfg.api_key_env} (named by api_key_env for {self.model_name!r}) is not "
                    f"set — export {cfg.api_key_env}=<your API key>"
                )
            self._api_key = key
        if cfg.served_adapter:  # fail at once, in one line, not when the first record's provenance is written
            check_adapter_dir(cfg.served_adapter)
        self._proxies = {url: _env_proxy(url) for url in self.base_urls}
        self._pool: ReplicaPool | None = None
        self._tokenizer = None
        self._http: _HttpRuntime | None = None
        self._runtime_lock = threading.Lock()
        self._finalizer: weakref.finalize | None = None
        self._identity: ModelIdentity | None = None

    @property
    def identity(self) -> ModelIdentity:
        """The served model plus the engine and version its servers report (asked once, on first use)."""
        with self._runtime_lock:
            if self._identity is None:
                from clca.llm.engine import combine, probe_engine

                headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
                tls = _tls_context() if any(u.startswith("https:") for u in self.base_urls) else None
                info = combine([probe_engine(url, self.model_name, headers, min(self.cfg.timeout_s, 5.0), tls)
                                for url in self.base_urls])
                adapter = check_adapter_dir(self.cfg.served_adapter) if self.cfg.served_adapter else None
                self._identity = ModelIdentity(backend="openai", model=self.model_name,
                                               server=server_identity(self.base_urls), engine=info.engine,
                                               engine_version=info.version, adapter=str(adapter) if adapter else None,
                                               adapter_sha256=adapter_sha256(adapter) if adapter else None)
            return self._identity

    def __repr__(self) -> str:  # never show the key
        return f"OpenAIBackend(model={self.model_name!r}, base_urls={self.base_urls!r})"

    # ---- HTTP ----------------------------------------------------------------------------------------------
    def _runtime(self) -> _HttpRuntime:
        with self._runtime_lock:  # callers may submit from several threads
            if self._http is None or self._http.pid != os.getpid():  # a forked child cannot use the parent's thread
                headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
                tls = any(url.startswith("https:") for url in self.base_urls)
                self._http = _HttpRuntime(headers, self.cfg.concurrency, self.cfg.timeout_s, tls)
                self._pool = ReplicaPool(self.base_urls, self.cfg.down_after_s, self.cfg.retry_backoff_s)
                self._finalizer = weakref.finalize(self, self._http.close)
            return self._http

    def close(self) -> None:
        if self._finalizer is not None:
            self._finalizer()  # runs _HttpRuntime.close once
        self._http = self._finalizer = None

    def _redact(self, text: str) -> str:
        """Server error messages end up in failure records: never let them carry the key (some echo it)."""
        return redact(text, self._api_key)

    def _backoff(self, attempt: int) -> float:
        # exponential with jitter in [50 %, 100 %] so that many clients do not retry in lockstep
        return min(MAX_BACKOFF_S, self.cfg.retry_backoff_s * 2**attempt) * (0.5 + random.random() / 2)

    async def _post_once(self, session: aiohttp.ClientSession, url: str, path: str, payload: dict) -> dict:
        try:
            async with session.post(url + path, json=payload, proxy=self._proxies[url]) as response:
                status, retry_after = response.status, response.headers.get("Retry-After")
                content = await response.read()
        except aiohttp.ConnectionTimeoutError:
            raise _Unreachable("connection timed out") from None
        except TimeoutError:
            raise _Retryable(f"timeout after {self.cfg.timeout_s:g}s from {url}") from None
        except aiohttp.ClientConnectorCertificateError as exc:  # no retry can fix trust
            why = getattr(exc.certificate_error, "verify_message", None) or "verification failed"
            raise _Fatal(f"TLS certificate of {url} not trusted ({why}) — for a private CA set SSL_CERT_FILE to "
                         "its PEM bundle", 0) from None
        except aiohttp.ClientConnectorError as exc:
            if not isinstance(exc, aiohttp.ClientSSLError):  # a TLS handshake failure means the server is there
                raise _Unreachable(_unreachable_reason(exc)) from None
            raise _Retryable(f"connection error from {url}: {type(exc).__name__}") from None
        except aiohttp.ClientError as exc:  # connect errors, dropped connections, half-sent bodies
            raise _Retryable(f"connection error from {url}: {type(exc).__name__}") from None
        if status in RETRYABLE_STATUS:
            raise _Retryable(f"HTTP {status} from {url}", _parse_retry_after(retry_after))
        if status != 200:
            raise _Fatal(f"HTTP {status} from {url}: {self._redact(_error_message(content))}", status)
        if leaks(content.decode("utf-8", "replace"), self._api_key):  # nothing of this reply may reach a file
            raise _Fatal(f"the server at {url} echoes the API key in its replies — none of them is recorded", 0)
        try:
            data = json.loads(content)
        except ValueError:  # includes undecodable bytes
            raise _Retryable(f"invalid JSON from {url} ({len(content)} bytes)") from None
        if not isinstance(data, dict) or not data.get("choices"):
            raise _Retryable(f"reply without choices from {url}")
        return data

    async def _post(self, path: str, payload: dict, validate, key: str | None = None) -> tuple[Any, int, float]:
        """POST with retries; returns (validate(data), attempts, seconds since the first attempt was sent — time
        spent queueing for a concurrency slot excluded). Raises _Retryable/_Fatal when giving up, BackendError when
        every replica has been unreachable for `cfg.down_after_s`. `key`: the routing key (replica affinity)."""
        session, slots = await self._http_session()
        assert self._pool is not None
        first_sent: float | None = None
        last: _Retryable | None = None
        tries = 0
        for attempt in range(self.cfg.max_retries + 1):
            while True:  # connection failures spend no retry: the replica pool decides when to try again
                async with slots:  # released while backing off: others use the slot
                    url, probe = await self._pool.acquire(key)
                    if first_sent is None:
                        first_sent = time.perf_counter()
                    tries += 1
                    try:
                        data = await self._post_reporting(session, url, probe, path, payload)
                        return validate(data, url), tries, time.perf_counter() - first_sent
                    except _Unreachable:
                        continue
                    except _Retryable as exc:
                        last = exc
                        break
            if attempt == self.cfg.max_retries:
                break
            if last.retry_after is not None and last.retry_after > MAX_RETRY_AFTER_S:
                break
            # a Retry-After paused the replica itself (the pool waits it out); otherwise back off on our own
            delay = 0.0 if last.retry_after is not None else self._backoff(attempt)
            log.warning("%s (attempt %d/%d); retrying in %.2fs", last.reason, attempt + 1,
                        self.cfg.max_retries + 1, last.retry_after if last.retry_after is not None else delay)
            await asyncio.sleep(delay)
        assert last is not None
        raise _Retryable(f"{self.cfg.max_retries + 1} attempts failed; last: {last.reason}") from None

    async def _post_reporting(self, session: aiohttp.ClientSession, url: str, probe: bool, path: str,
                              payload: dict) -> dict:
        """`_post_once`, telling the replica pool whether the server was reached."""
        assert self._pool is not None
        try:
            data = await self._post_once(session, url, path, payload)
        except _Unreachable as exc:
            self._pool.report_unreachable(url, probe, exc.reason)
            raise
        except (_Retryable, _Fatal) as exc:
            pause = getattr(exc, "retry_after", None)  # beyond MAX_RETRY_AFTER_S each request gives up instead
            self._pool.report_reached(url, probe, pause if pause is not None and pause <= MAX_RETRY_AFTER_S else None)
            raise
        except BaseException:  # cancelled: no news about the server
            if probe:
                self._pool.release_probe(url)
            raise
        self._pool.report_reached(url, probe)
        return data

    async def _http_session(self) -> tuple[aiohttp.ClientSession, asyncio.Semaphore]:
        assert self._http is not None
        return await self._http.session()

    # ---- generate ------------------------------------------------------------------------------------------
    def _chat_payload(self, request: GenerationRequest) -> dict:
        payload: dict[str, Any] = {
            "model": self.model_name,
            "messages": [m.model_dump() for m in request.messages],
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "top_p": request.top_p,
        }
        if request.seed is not None:
            payload["seed"] = request.seed
        if request.stop:
            payload["stop"] = request.stop
        # penalties only when set: servers that lack one (repetition_penalty is a vLLM/llama.cpp extension) are
        # not sent what the user did not ask for
        for name in ("frequency_penalty", "presence_penalty", "repetition_penalty"):
            if getattr(request, name) is not None:
                payload[name] = getattr(request, name)
        return payload

    @staticmethod
    def _parse_chat(data: dict, url: str) -> tuple[str, str, dict]:
        choice = data["choices"][0]
        message = choice.get("message") if isinstance(choice, dict) else None
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, str):
            raise _Retryable(f"reply from {url} has no message content")
        content = _valid_unicode(content)
        return content, choice.get("finish_reason") or "stop", data.get("usage") or {}

    def generate(
        self, requests: Sequence[GenerationRequest], progress: ProgressCallback | None = None
    ) -> list[GenerationResult]:
        if not requests:
            return []
        _refuse_local_only(requests)
        return self._runtime().run(self._generate_all(list(requests), progress))

    supports_submit = True

    @property
    def max_in_flight(self) -> int:
        return self.cfg.concurrency

    def submit(self, request: GenerationRequest) -> concurrent.futures.Future[GenerationResult]:
        _refuse_local_only([request])
        return self._runtime().submit(self._generate_one(request))

    async def _generate_all(self, requests: list[GenerationRequest], progress) -> list[GenerationResult]:
        async def one(request: GenerationRequest) -> GenerationResult:
            result = await self._generate_one(request)
            if progress:
                progress(1)
            return result

        outcomes = await asyncio.gather(*(one(r) for r in requests), return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):  # BackendError (see _Fatal.affects_every_request) or a bug
                raise outcome
        return outcomes  # type: ignore[return-value]

    async def _generate_one(self, request: GenerationRequest) -> GenerationResult:
        started = time.perf_counter()
        try:
            (text, finish, usage), attempts, latency = await self._post(
                "/chat/completions", self._chat_payload(request), self._parse_chat, request.routing_key
            )
        except _Fatal as exc:
            if exc.affects_every_request:
                raise BackendError(f"{exc.reason} — check the model name, base URL and API key") from None
            return GenerationResult.failure(exc.reason, latency_s=time.perf_counter() - started, attempts=1)
        except _Retryable as exc:
            return GenerationResult.failure(exc.reason, latency_s=time.perf_counter() - started,
                                            attempts=self.cfg.max_retries + 1)
        return GenerationResult(
            text=text, finish_reason="length" if finish == "length" else "stop",
            prompt_tokens=usage.get("prompt_tokens"), completion_tokens=usage.get("completion_tokens"),
            latency_s=latency, attempts=attempts,
        )

    # ---- score_options -------------------------------------------------------------------------------------
    def _chat_tokenizer(self):
        if self._tokenizer is None:
            if not self.cfg.tokenizer:
                raise BackendError(
                    f"{self.spec}: score_options needs the served model's chat template — set the model option "
                    "'tokenizer' to its Hugging Face tokenizer (path or name), or use mode generate"
                )
            from transformers import AutoTokenizer

            try:
                self._tokenizer = AutoTokenizer.from_pretrained(self.cfg.tokenizer)
            except (OSError, ValueError) as exc:
                raise BackendError(f"tokenizer {self.cfg.tokenizer!r}: cannot load "
                                   f"({str(exc).splitlines()[0]})") from None
            if not getattr(self._tokenizer, "chat_template", None):
                raise BackendError(f"tokenizer {self.cfg.tokenizer!r} has no chat template")
        return self._tokenizer

    def _end_of_turn_text(self, tokenizer) -> str:
        marker = "\u2063CLCA\u2063"
        rendered = tokenizer.apply_chat_template(
            [{"role": "user", "content": "x"}, {"role": "assistant", "content": marker}], tokenize=False
        )
        return rendered.split(marker, 1)[1].rstrip() or (tokenizer.eos_token or "")

    def score_options(
        self, requests: Sequence[OptionScoringRequest], progress: ProgressCallback | None = None
    ) -> list[list[float]]:
        tokenizer = self._chat_tokenizer()
        eot = self._end_of_turn_text(tokenizer)
        prompts = [
            tokenizer.apply_chat_template([m.model_dump() for m in r.messages], tokenize=False,
                                          add_generation_prompt=True)
            for r in requests
        ]
        if not requests:
            return []
        return self._runtime().run(self._score_all(list(requests), prompts, eot, progress))

    async def _score_all(self, requests, prompts, eot, progress) -> list[list[float]]:
        async def one_option(prompt: str, option: str) -> float:
            full = prompt + option + eot

            def parse(data: dict, url: str) -> float:
                logprobs = (data["choices"][0] or {}).get("logprobs") or {}
                token_logprobs, offsets = logprobs.get("token_logprobs"), logprobs.get("text_offset")
                if not token_logprobs or not offsets:
                    raise _Fatal(f"server {url} returned no prompt logprobs", 200)
                if len(prompt) not in offsets:
                    raise _Fatal(f"server {url} tokenized across the end of the chat prompt, so the option's "
                                 "log-probability cannot be isolated", 200)
                picked = [lp for lp, off in zip(token_logprobs, offsets, strict=False)
                          if len(prompt) <= off < len(full)]
                if any(lp is None for lp in picked):
                    raise _Retryable(f"server {url} returned null logprobs for option tokens")
                return float(sum(picked))

            payload = {"model": self.model_name, "prompt": full, "echo": True, "logprobs": 1,
                       "max_tokens": 1, "temperature": 0.0}
            try:
                score, _, _ = await self._post("/completions", payload, parse)
            except _Fatal as exc:
                if exc.status in {400, 404, 422, 200}:
                    raise BackendError(f"{exc.reason} — this server does not give prompt logprobs "
                                       "(echo + logprobs on /v1/completions); use mode generate") from None
                raise BackendError(f"score_options: {exc.reason}") from None
            return score  # _Retryable (retries exhausted) goes up to `one`: this request fails, the batch goes on

        async def one(request: OptionScoringRequest, prompt: str) -> list[float]:
            outcomes = await asyncio.gather(*(one_option(prompt, o) for o in request.options),
                                            return_exceptions=True)
            fatal = next((o for o in outcomes if isinstance(o, BaseException) and not isinstance(o, _Retryable)),
                         None)
            if fatal is not None:
                raise fatal
            gave_up = next((o for o in outcomes if isinstance(o, _Retryable)), None)
            scores = (ScoringFailure(len(outcomes), f"score_options: {gave_up.reason}") if gave_up is not None
                      else [float(o) for o in outcomes])  # type: ignore[arg-type]
            if progress:
                progress(1)
            return scores

        return list(await asyncio.gather(*(one(r, p) for r, p in zip(requests, prompts, strict=True))))


async def _observed(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro`, marking its task's exception as seen: a caller that cancelled its future while the task was
    raising (e.g. every request raising BackendError at once) would otherwise get "exception never retrieved"
    tracebacks at exit."""
    task = asyncio.current_task()
    if task is not None:
        task.add_done_callback(lambda done: done.cancelled() or done.exception())
    return await coro


def _tls_context() -> ssl.SSLContext:
    """The system's trust store (which honours SSL_CERT_FILE / SSL_CERT_DIR) plus certifi's bundle, so HTTPS works
    on machines whose system store is empty (slim containers) as it did with httpx."""
    context = ssl.create_default_context()
    try:
        import certifi

        context.load_verify_locations(certifi.where())
    except (ImportError, OSError):
        pass
    return context


def _env_proxy(base_url: str) -> str | None:
    """The proxy that HTTP(S)_PROXY / ALL_PROXY / NO_PROXY give for `base_url` (as curl and httpx read them)."""
    parts = urllib.parse.urlsplit(base_url)
    proxies = urllib.request.getproxies_environment()
    if not proxies or urllib.request.proxy_bypass_environment(parts.hostname or "", proxies):
        return None
    return proxies.get(parts.scheme) or proxies.get("all")


def _unreachable_reason(exc: aiohttp.ClientConnectorError) -> str:
    """A few words for why no connection was made, for the one-line error."""
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return "host name not resolved"
    text = f"{exc.os_error} {getattr(exc.os_error, 'errno', '')}"
    if exc.os_error.errno == errno.ECONNREFUSED or "refused" in text or f"[Errno {errno.ECONNREFUSED}]" in text:
        return "connection refused"
    if exc.os_error.errno in {errno.EHOSTUNREACH, errno.ENETUNREACH}:
        return "unreachable"
    return f"cannot connect ({exc.os_error.strerror or type(exc.os_error).__name__})"


def _error_message(content: bytes) -> str:
    try:
        data = json.loads(content)
        message = data.get("error", {}).get("message") if isinstance(data.get("error"), dict) else data.get("error")
        if message:
            return " ".join(str(message).split())[:200]
    except (ValueError, AttributeError):
        pass
    return " ".join(content.decode("utf-8", "replace").split())[:200]


def _refuse_local_only(requests: Sequence[GenerationRequest]) -> None:
    """OpenAI-compatible servers have no n-gram ban; ignoring a control the config asks for would hide it."""
    if any(r.no_repeat_ngram_size is not None for r in requests):
        raise BackendError("no_repeat_ngram_size works with local models only — for an OpenAI-compatible server use "
                           "frequency_penalty / presence_penalty (or repetition_penalty where the server has it)")
