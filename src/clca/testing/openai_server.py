"""A real OpenAI-compatible HTTP server on 127.0.0.1 for tests and benchmarks.

    with OpenAICompatServer(responder=lambda req: "hello", faults=FaultPlan(script={1: "429"})) as srv:
        backend = load_backend(f"openai:test-model@{srv.base_url}", cache=False)

Endpoints: `POST /v1/chat/completions`, `POST /v1/completions` (prompt logprobs with `echo` + `logprobs`, vLLM
style, only when a `scorer` is given — like real servers, which often lack them), `GET /v1/models`, and
`GET /version` when an `engine_version` is scripted (as vLLM serves it).

It is a real server (ThreadingHTTPServer, HTTP/1.1 keep-alive, one thread per connection) so clients exercise
their real network code; replies are scripted by `responder`, and `FaultPlan` injects the failures real servers
produce only now and then: 429 with Retry-After, 500/503, slow answers (client timeouts), connections dropped
mid-body, truncated JSON and empty `choices` — scripted by call number, or at a seeded random rate.
"""

from __future__ import annotations

import json
import random
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

FaultKind = Literal["429", "500", "503", "slow", "drop", "truncated", "empty_choices", "400", "401_echo"]
# the kinds a flaky server produces now and then (and at random in FaultPlan(rate=…))
FAULT_KINDS: tuple[str, ...] = ("429", "500", "503", "slow", "drop", "truncated", "empty_choices")
# replies about one request or about the client, scripted on purpose: "400" (this prompt is too long) and
# "401_echo" (a rejected key, echoed in the error message as some servers and proxies do)
CLIENT_ERROR_KINDS: tuple[str, ...] = ("400", "401_echo")

Responder = Callable[[dict[str, Any]], str]
# scorer(prompt_text) -> [(token_text, logprob or None for the first token), …] covering the whole prompt
Scorer = Callable[[str], list[tuple[str, float | None]]]


@dataclass(frozen=True)
class Fault:
    kind: FaultKind
    retry_after: float | None = None  # seconds, for 429 (sent as the Retry-After header)
    delay_s: float = 30.0  # for "slow": how long the server waits before answering


@dataclass
class FaultPlan:
    """Which calls fail and how.

    `script` maps 1-based call numbers (counted over all POST requests) to a fault (`Fault` or its kind string);
    `by_request(body)` may pick a fault from the request body (e.g. always fail one prompt); besides, each call
    fails with probability `rate`, the kind drawn from `kinds` by a `random.Random(seed)`.
    """

    script: dict[int, Fault | str] = field(default_factory=dict)
    rate: float = 0.0
    kinds: tuple[str, ...] = ("429", "500", "503", "drop", "truncated")
    seed: int = 0
    retry_after: float | None = 0.05  # Retry-After for random 429s
    slow_delay_s: float = 30.0
    by_request: Callable[[dict[str, Any]], Fault | str | None] | None = None

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self.script = {n: f if isinstance(f, Fault) else self._from_kind(f) for n, f in self.script.items()}
        for fault in self.script.values():
            if fault.kind not in (*FAULT_KINDS, *CLIENT_ERROR_KINDS):
                raise ValueError(f"unknown fault kind {fault.kind!r}; one of {FAULT_KINDS + CLIENT_ERROR_KINDS}")

    def _from_kind(self, kind: str) -> Fault:
        return Fault(kind=kind, retry_after=self.retry_after if kind == "429" else None,  # type: ignore[arg-type]
                     delay_s=self.slow_delay_s)

    def fault_for(self, call_number: int, body: Any = None) -> Fault | None:
        """Called under the server lock, in call order, so random plans are reproducible for a given order."""
        if call_number in self.script:
            return self.script[call_number]  # type: ignore[return-value]
        if self.by_request is not None and isinstance(body, dict):
            chosen = self.by_request(body)
            if chosen is not None:
                return chosen if isinstance(chosen, Fault) else self._from_kind(chosen)
        if self.rate > 0 and self._rng.random() < self.rate:
            return self._from_kind(self._rng.choice(self.kinds))
        return None


@dataclass
class RecordedRequest:
    call_number: int
    path: str
    body: dict[str, Any] | None
    has_authorization: bool
    fault: str | None
    received_at: float
    # Raw Authorization header, kept for key-handling tests only; not shown in repr.
    authorization: str | None = field(default=None, repr=False)


def default_responder(request: dict[str, Any]) -> str:
    """Deterministic reply: echoes the last user message."""
    messages = request.get("messages") or []
    last_user = next((m.get("content", "") for m in reversed(messages) if m.get("role") == "user"), "")
    return f"echo: {last_user}"


def _cut(sock: socket.socket) -> None:
    """Cut a connection both ways, as a dying process does; one already closed is fine."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: clients reuse connections like with real servers
    # Headers and body go out in two writes; with Nagle's algorithm on, the body waits for the client's delayed
    # ACK of the headers (~40 ms on Linux), which nearly doubled the latency of a 50 ms benchmark server.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence per-request stderr lines
        pass

    def setup(self) -> None:
        super().setup()
        owner = self.server.owner
        with owner._lock:
            owner._connections += 1
            owner._open_sockets.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            with self.server.owner._lock:
                self.server.owner._open_sockets.discard(self.connection)

    def _drop_connection(self) -> None:
        self.close_connection = True
        _cut(self.connection)

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def version_string(self) -> str:
        return self.server.owner.server_header or super().version_string()

    def do_GET(self) -> None:  # noqa: N802
        owner = self.server.owner
        if self.path.rstrip("/") == "/v1/models":
            names = [owner.model_name, *owner.served_names]
            entries = [{"id": name, "object": "model", **({"owned_by": owner.owned_by} if owner.owned_by else {})}
                       for name in names]
            self._send_json(200, {"object": "list", "data": entries})
        elif self.path.rstrip("/") == "/version" and owner.engine_version is not None:
            self._send_json(200, {"version": owner.engine_version})
        else:
            self._send_json(404, {"error": {"message": f"no route {self.path}"}})

    def do_POST(self) -> None:  # noqa: N802
        owner = self.server.owner
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        authorization = self.headers.get("Authorization")
        with owner._lock:
            if self.server is not owner._server:  # stopped meanwhile: a crashed server answers nothing
                self._drop_connection()
                return
            owner._calls += 1
            number = owner._calls
            fault = owner.faults.fault_for(number, body) if owner.faults else None
            owner.requests.append(RecordedRequest(
                call_number=number, path=self.path, body=body, has_authorization=authorization is not None,
                fault=fault.kind if fault else None, received_at=time.monotonic(), authorization=authorization,
            ))
            owner._in_flight += 1
            owner.max_in_flight = max(owner.max_in_flight, owner._in_flight)
        try:
            if owner.latency_s:
                time.sleep(owner.latency_s)
            self._answer(owner, body, fault)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (e.g. its timeout fired): nothing to answer
        finally:
            with owner._lock:
                owner._in_flight -= 1

    def _answer(self, owner: OpenAICompatServer, body: dict[str, Any] | None, fault: Fault | None) -> None:
        if fault is not None:
            if fault.kind == "429":
                headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
                return self._send_json(429, {"error": {"message": "rate limited", "type": "rate_limit"}}, headers)
            if fault.kind in {"500", "503"}:
                return self._send_json(int(fault.kind), {"error": {"message": "server error"}})
            if fault.kind == "400":
                return self._send_json(400, {"error": {"message": "This model's maximum context length is 8192 "
                                                                  "tokens; the messages resulted in 9001 tokens"}})
            if fault.kind == "401_echo":
                key = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
                return self._send_json(401, {"error": {"message": f"Incorrect API key provided: {key}"}})
            if fault.kind == "slow":
                time.sleep(fault.delay_s)
        if body is None or not isinstance(body, dict):
            return self._send_json(400, {"error": {"message": "request body is not a JSON object"}})
        path = self.path.rstrip("/")
        if path == "/v1/chat/completions":
            payload = self._chat(owner, body)
        elif path == "/v1/completions":
            payload = self._completion(owner, body)
            if payload is None:
                return None
        else:
            return self._send_json(404, {"error": {"message": f"no route {self.path}"}})
        if fault is not None and fault.kind == "empty_choices":
            payload["choices"] = []
        data = json.dumps(payload).encode("utf-8")
        if fault is not None and fault.kind in {"drop", "truncated"}:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            if fault.kind == "drop":  # promise the full body, send half, hang up
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                self._drop_connection()
                return None
            cut = data[: len(data) // 2]  # a complete HTTP response whose JSON is cut short
            self.send_header("Content-Length", str(len(cut)))
            self.end_headers()
            self.wfile.write(cut)
            return None
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        return None

    def _chat(self, owner: OpenAICompatServer, body: dict[str, Any]) -> dict[str, Any]:
        text = owner.responder(body)
        stop = body.get("stop") or []
        finish = "stop"
        for s in [stop] if isinstance(stop, str) else stop:
            if s and s in text:
                text = text[: text.index(s)]
        max_tokens = body.get("max_tokens") or body.get("max_completion_tokens")
        words = text.split(" ")
        if max_tokens is not None and len(words) > max_tokens:  # "tokens" = space-separated words here
            text, finish = " ".join(words[:max_tokens]), "length"
        prompt_words = sum(len(str(m.get("content", "")).split()) for m in body.get("messages") or [])
        return {
            "id": f"chatcmpl-{owner._calls}", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model", owner.model_name),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}],
            "usage": {"prompt_tokens": prompt_words, "completion_tokens": len(text.split()),
                      "total_tokens": prompt_words + len(text.split())},
        }

    def _completion(self, owner: OpenAICompatServer, body: dict[str, Any]) -> dict[str, Any] | None:
        prompt = body.get("prompt")
        if owner.scorer is None or not body.get("echo") or not body.get("logprobs"):
            self._send_json(400, {"error": {"message": "this server does not support echo with logprobs"}})
            return None
        if not isinstance(prompt, str):
            self._send_json(400, {"error": {"message": "prompt must be a string"}})
            return None
        tokens = owner.scorer(prompt)
        offsets, position = [], 0
        for token, _ in tokens:
            offsets.append(position)
            position += len(token)
        return {
            "id": f"cmpl-{owner._calls}", "object": "text_completion", "created": int(time.time()),
            "model": body.get("model", owner.model_name),
            "choices": [{
                "index": 0, "text": prompt, "finish_reason": "length",
                "logprobs": {"tokens": [t for t, _ in tokens], "token_logprobs": [lp for _, lp in tokens],
                             "text_offset": offsets, "top_logprobs": None},
            }],
            "usage": {"prompt_tokens": len(tokens), "completion_tokens": 0, "total_tokens": len(tokens)},
        }


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # many clients connecting at once must not be refused
    owner: OpenAICompatServer


class OpenAICompatServer:
    """Context manager running the server in a background thread; `base_url` ends in `/v1`."""

    def __init__(
        self,
        responder: Responder | None = None,
        faults: FaultPlan | None = None,
        latency_s: float = 0.0,
        scorer: Scorer | None = None,
        model_name: str = "test-model",
        tls: tuple[str, str] | None = None,
        port: int = 0,
        owned_by: str | None = None,
        engine_version: str | None = None,
        server_header: str | None = None,
        served_names: tuple[str, ...] = (),
    ):
        """`tls=(certfile, keyfile)` serves HTTPS (base_url starts with https://); `port=0` lets the OS pick one,
        which `stop()` + `start()` then reuse (a server restarted on its address). Engine identity, scripted like
        vLLM reports it: `owned_by` in `/v1/models` entries, `engine_version` at `GET /version`, `server_header`
        as the Server header (default: Python's BaseHTTP); `served_names` are listed besides `model_name` (e.g.
        LoRA adapters served under their own names)."""
        self.owned_by, self.engine_version, self.server_header = owned_by, engine_version, server_header
        self.served_names = served_names
        self.responder = responder or default_responder
        self.faults = faults
        self.latency_s = latency_s
        self.scorer = scorer
        self.model_name = model_name
        self.tls = tls
        self.port = port
        self.requests: list[RecordedRequest] = []
        self.max_in_flight = 0
        self._calls = 0
        self._connections = 0
        self._in_flight = 0
        self._lock = threading.Lock()
        self._open_sockets: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def calls(self) -> int:
        return self._calls

    @property
    def connections(self) -> int:
        """TCP connections accepted so far (keep-alive clients open few)."""
        return self._connections

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("server not started: use `with OpenAICompatServer(...) as srv:`")
        host, port = self._server.server_address[:2]
        return f"{'https' if self.tls else 'http'}://{host}:{port}/v1"

    def reset_stats(self) -> None:
        with self._lock:
            self.requests.clear()
            self.max_in_flight = self._in_flight

    def start(self) -> OpenAICompatServer:
        self._server = _Server(("127.0.0.1", self.port), _Handler)  # port 0: the OS picks a free port
        self._server.owner = self
        self.port = self._server.server_address[1]
        if self.tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*self.tls)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="openai-compat-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop like a crashed server: the port closes and open keep-alive connections are cut."""
        # Detached under the lock first, so a request read after this point (on a connection accepted a moment
        # before) is dropped rather than answered, as by a process that has died.
        with self._lock:
            server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        with self._lock:
            sockets, self._open_sockets = list(self._open_sockets), set()
        for sock in sockets:
            _cut(sock)
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> OpenAICompatServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def transformers_scorer(backend: Any) -> Scorer:
    """Prompt log-probabilities from a local clca backend's real model (e.g. the embedded SmolLM2), vLLM-style:
    the first token has logprob None, every other token its log P given everything before it."""
    import torch

    lock = threading.Lock()  # one forward at a time: the server answers from many threads

    def score(prompt: str) -> list[tuple[str, float | None]]:
        tokenizer, model = backend.tokenizer, backend.model
        encoded = tokenizer(prompt, add_special_tokens=False, return_offsets_mapping=True)
        ids, spans = encoded.input_ids, encoded.offset_mapping
        with lock, torch.inference_mode():
            logits = model(torch.tensor([ids], device=model.device)).logits[0].float()
        logprobs = torch.log_softmax(logits, dim=-1)
        out: list[tuple[str, float | None]] = []
        previous_end = 0
        for k, (token_id, (_, end)) in enumerate(zip(ids, spans, strict=True)):
            # token texts are consecutive slices of the prompt, so text offsets add up exactly
            text, previous_end = prompt[previous_end:end], max(previous_end, end)
            out.append((text, None if k == 0 else float(logprobs[k - 1, token_id])))
        return out

    return score
