"""The openai backend against a real local HTTP server: retries, Retry-After, concurrency limit, round-robin,
exhausted retries as recorded failures, API key handling, prompt-logprob option scoring."""

from __future__ import annotations

import logging
import time

import pytest

from clca.errors import BackendError
from clca.llm import GenerationRequest, Message, OptionScoringRequest, load_backend
from clca.llm.weights import embedded_model_dir
from clca.testing import Fault, FaultPlan, OpenAICompatServer, transformers_scorer

FAST = {"cache": False, "retry_backoff_s": 0.01, "timeout_s": 5.0}


def ask(text: str, **kwargs) -> GenerationRequest:
    return GenerationRequest(messages=[Message(role="user", content=text)], **kwargs)


def test_plain_generation_sends_the_request_fields():
    with OpenAICompatServer(responder=lambda body: f"reply to {body['messages'][-1]['content']}") as srv:
        backend = load_backend(f"openai:served-model@{srv.base_url}", **FAST)
        [result] = backend.generate([ask("hello", max_tokens=7, temperature=0.5, seed=3, stop=["\n"])])
        assert result.ok and result.text == "reply to hello" and result.attempts == 1
        body = srv.requests[0].body
        assert body["model"] == "served-model" and body["max_tokens"] == 7 and body["seed"] == 3
        assert body["temperature"] == 0.5 and body["stop"] == ["\n"]
        assert backend.identity.backend == "openai" and backend.identity.model == "served-model"


def test_retries_succeed_after_429_with_retry_after_500_and_dropped_connection():
    plan = FaultPlan(script={1: Fault("429", retry_after=0.3), 2: "500", 3: "drop", 4: "truncated",
                             5: "empty_choices", 6: "503"})
    with OpenAICompatServer(faults=plan) as srv:
        backend = load_backend(f"openai:m@{srv.base_url}", concurrency=1, **FAST)
        started = time.monotonic()
        results = backend.generate([ask("a"), ask("b")])
        assert all(r.ok for r in results)
        assert [r.text for r in results] == ["echo: a", "echo: b"]
        assert sum(r.attempts for r in results) == 8  # 6 faults + 2 successes
        # the first request waited at least the 0.3 s the server asked for before its retry
        first_calls = [r for r in srv.requests if r.body["messages"][0]["content"] == "a"]
        assert first_calls[1].received_at - first_calls[0].received_at >= 0.29
        assert time.monotonic() - started < 5


def test_timeouts_are_retried():
    plan = FaultPlan(script={1: Fault("slow", delay_s=2.0)})
    with OpenAICompatServer(faults=plan) as srv:
        backend = load_backend(f"openai:m@{srv.base_url}", cache=False, retry_backoff_s=0.01, timeout_s=0.3)
        [result] = backend.generate([ask("x")])
        assert result.ok and result.attempts == 2


def test_exhausted_retries_are_recorded_failures_and_the_batch_continues():
    plan = FaultPlan(by_request=lambda body: "503" if body["messages"][0]["content"] == "doomed" else None)
    with OpenAICompatServer(faults=plan) as srv:
        backend = load_backend(f"openai:m@{srv.base_url}", concurrency=1, max_retries=2, **FAST)
        results = backend.generate([ask("doomed"), ask("fine")])
        assert not results[0].ok and results[0].text is None and results[0].finish_reason == "error"
        assert "3 attempts failed" in results[0].error and "503" in results[0].error
        assert results[0].attempts == 3
        assert results[1].ok and results[1].text == "echo: fine"
        assert srv.calls == 4


def test_client_errors_are_not_retried_and_a_wrong_url_stops_the_batch():
    with OpenAICompatServer() as srv:
        backend = load_backend(f"openai:m@{srv.base_url.replace('/v1', '/nope')}", **FAST)
        with pytest.raises(BackendError, match="HTTP 404.*check the model name, base URL and API key"):
            backend.generate([ask("x"), ask("y")])
        assert srv.calls == 2  # one each, no retries

    too_long = FaultPlan(by_request=lambda body: "400" if body["messages"][0]["content"] == "long" else None)
    with OpenAICompatServer(faults=too_long) as srv:  # a 400 concerns one request: recorded, the batch goes on
        backend = load_backend(f"openai:m@{srv.base_url}", **FAST)
        bad, good = backend.generate([ask("long"), ask("short")])
        assert not bad.ok and "HTTP 400" in bad.error and bad.attempts == 1 and good.ok and srv.calls == 2


def test_concurrency_limit_is_never_exceeded():
    with OpenAICompatServer(latency_s=0.05) as srv:
        backend = load_backend(f"openai:m@{srv.base_url}", concurrency=5, **FAST)
        results = backend.generate([ask(str(i)) for i in range(40)])
        assert all(r.ok for r in results) and [r.text for r in results] == [f"echo: {i}" for i in range(40)]
        assert srv.max_in_flight == 5  # reached, never exceeded


def test_random_faults_at_a_seeded_rate_are_absorbed():
    with OpenAICompatServer(faults=FaultPlan(rate=0.3, seed=7), latency_s=0.01) as srv:
        backend = load_backend(f"openai:m@{srv.base_url}", concurrency=8, max_retries=12, **FAST)
        results = backend.generate([ask(str(i)) for i in range(60)])
        assert all(r.ok for r in results)
        assert sum(1 for r in srv.requests if r.fault) >= 5  # faults really happened


def test_round_robin_over_two_servers():
    with OpenAICompatServer() as one, OpenAICompatServer() as two:
        backend = load_backend(f"openai:m@{one.base_url},{two.base_url}", concurrency=2, **FAST)
        assert all(r.ok for r in backend.generate([ask(str(i)) for i in range(10)]))
        assert one.calls == 5 and two.calls == 5


def test_retry_goes_to_the_other_server():
    with OpenAICompatServer(faults=FaultPlan(script={1: "500"})) as bad, OpenAICompatServer() as good:
        backend = load_backend(f"openai:m@{bad.base_url},{good.base_url}", **FAST)
        [result] = backend.generate([ask("x")])
        assert result.ok and bad.calls == 1 and good.calls == 1


def test_api_key_comes_from_env_and_never_leaks(monkeypatch, caplog, tmp_path):
    secret = "sk-test-SECRET-0123456789"
    monkeypatch.setenv("CLCA_TEST_KEY", secret)
    monkeypatch.setenv("CLCA_CACHE_DIR", str(tmp_path))
    caplog.set_level(logging.DEBUG)
    with OpenAICompatServer(faults=FaultPlan(script={1: "429", 2: "drop"})) as srv:
        backend = load_backend(f"openai:m@{srv.base_url}", api_key_env="CLCA_TEST_KEY", retry_backoff_s=0.01)
        [result] = backend.generate([ask("x")])
        backend.close()
        assert result.ok
        assert all(r.authorization == f"Bearer {secret}" for r in srv.requests)
    assert secret not in caplog.text and "SECRET" not in caplog.text
    assert secret not in repr(backend) and secret not in result.model_dump_json()
    cache_bytes = b"".join(p.read_bytes() for p in tmp_path.glob("responses.sqlite*"))
    assert cache_bytes and secret.encode() not in cache_bytes


def test_a_server_echoing_the_key_in_its_error_does_not_put_it_in_the_failure(monkeypatch):
    secret = "sk-test-ECHOED-9876543210"
    monkeypatch.setenv("CLCA_TEST_KEY", secret)
    with OpenAICompatServer(faults=FaultPlan(script={1: "401_echo"})) as srv:
        backend = load_backend(f"openai:m@{srv.base_url}", api_key_env="CLCA_TEST_KEY", **FAST)
        with pytest.raises(BackendError) as raised:
            backend.generate([ask("x")])
        backend.close()
    message = str(raised.value)
    assert "HTTP 401" in message and "Incorrect API key provided: <api key>" in message and secret not in message


def test_missing_api_key_variable_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("CLCA_UNSET_KEY", raising=False)
    with pytest.raises(BackendError, match="CLCA_UNSET_KEY"):
        load_backend("openai:m@http://127.0.0.1:9/v1", api_key_env="CLCA_UNSET_KEY", cache=False)


def test_score_options_without_prompt_logprobs_is_a_clear_error():
    tokenizer_dir = embedded_model_dir()[0]  # only the tokenizer (chat template) is needed here
    with OpenAICompatServer() as srv:  # no scorer: like servers without echo+logprobs
        backend = load_backend(f"openai:m@{srv.base_url}", tokenizer=str(tokenizer_dir), **FAST)
        with pytest.raises(BackendError, match="prompt logprobs.*use mode generate"):
            backend.score_options([OptionScoringRequest(messages=[Message(role="user", content="x")],
                                                        options=["a"])])
        no_tokenizer = load_backend(f"openai:m@{srv.base_url}", **FAST)
        with pytest.raises(BackendError, match="tokenizer"):
            no_tokenizer.score_options([OptionScoringRequest(messages=[Message(role="user", content="x")],
                                                             options=["a"])])


@pytest.mark.slow
def test_score_options_via_prompt_logprobs_matches_the_local_model(embedded_backend):
    requests = [
        OptionScoringRequest(messages=[Message(role="user", content="What is the capital of France?")],
                             options=["Paris", "London", " 10"]),
        OptionScoringRequest(messages=[Message(role="user", content="Rate from 1 to 10.")], options=[" 1", " 10"]),
    ]
    local = embedded_backend.score_options(requests)
    with OpenAICompatServer(scorer=transformers_scorer(embedded_backend),
                            faults=FaultPlan(script={2: "503"})) as srv:
        remote = load_backend(f"openai:m@{srv.base_url}", tokenizer=str(embedded_backend.model_dir), **FAST)
        scores = remote.score_options(requests)
        body = srv.requests[0].body
        assert body["echo"] is True and body["logprobs"] == 1
    for got, want in zip(scores, local, strict=True):
        assert got == pytest.approx(want, abs=1e-3)


def test_submit_resolves_each_request_on_its_own_and_failures_are_results():
    plan = FaultPlan(by_request=lambda body: "503" if body["messages"][0]["content"] == "doomed" else None)
    with OpenAICompatServer(faults=plan, latency_s=0.05) as srv:
        backend = load_backend(f"openai:m@{srv.base_url}", max_retries=1, concurrency=8, **FAST)
        assert backend.supports_submit
        futures = [backend.submit(ask(t)) for t in ("a", "doomed", "b")]
        results = [f.result(timeout=10) for f in futures]
        assert [r.text for r in results] == ["echo: a", None, "echo: b"]
        assert not results[1].ok and "2 attempts failed" in results[1].error
        backend.close()


def test_connections_are_kept_alive_across_batches():
    """One keep-alive session per backend: later batches reuse the connections (a role-play sends a batch or a
    request per turn; reconnecting each time cost a TCP handshake and a server thread per request)."""
    with OpenAICompatServer() as srv:
        backend = load_backend(f"openai:m@{srv.base_url}", concurrency=4, **FAST)
        for batch in range(5):
            backend.generate([ask(f"{batch}-{k}") for k in range(4)])
        assert srv.connections <= 4 and srv.calls == 20
        backend.close()


def test_generate_works_inside_a_running_event_loop():
    """Jupyter runs user code inside an event loop; the backend's own loop thread makes that a non-issue."""
    import asyncio

    async def notebook_cell():
        return backend.generate([ask("from a notebook")])

    with OpenAICompatServer() as srv:
        backend = load_backend(f"openai:m@{srv.base_url}", **FAST)
        [result] = asyncio.run(notebook_cell())
        assert result.text == "echo: from a notebook"
        backend.close()


def test_proxies_come_from_the_environment_once_per_base_url(monkeypatch):
    from clca.llm.openai_backend import _env_proxy

    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy",
                 "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    assert _env_proxy("https://api.example.org/v1") is None
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.lab:3128")
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1,.internal")
    assert _env_proxy("https://api.example.org/v1") == "http://proxy.lab:3128"
    assert _env_proxy("http://api.example.org/v1") is None  # no HTTP_PROXY
    assert _env_proxy("https://vllm.internal:8000/v1") is None
    assert _env_proxy("http://127.0.0.1:8000/v1") is None


def test_a_backend_resolves_each_base_urls_proxy_once(monkeypatch):
    """Proxy settings are read once per base URL when the backend opens, not per request."""
    from clca.llm import openai_backend

    calls: list[str] = []
    real = openai_backend._env_proxy
    monkeypatch.setattr(openai_backend, "_env_proxy", lambda url: calls.append(url) or real(url))
    with OpenAICompatServer() as a, OpenAICompatServer() as b:
        urls = [a.base_url, b.base_url]
        backend = load_backend(f"openai:m@{','.join(urls)}", **FAST)
        results = backend.generate([ask(f"q{i}") for i in range(8)])
        backend.close()
    assert all(r.ok for r in results)
    assert sorted(calls) == sorted(urls)


def test_a_dropped_backend_shuts_its_loop_thread_down_even_from_its_own_callback():
    """`load_backend(...).submit(r)` keeps the backend alive only through the request; when that finishes, the
    backend is collected on its own loop thread — closing must neither deadlock nor leave the thread behind."""
    import gc
    import threading

    with OpenAICompatServer(latency_s=0.05) as srv:
        started = time.monotonic()
        future = load_backend(f"openai:m@{srv.base_url}", **FAST).submit(ask("x"))
        assert future.result(timeout=10).text == "echo: x"
        deadline = time.monotonic() + 5
        while any(t.name == "clca-openai-http" for t in threading.enumerate()) and time.monotonic() < deadline:
            gc.collect()
            time.sleep(0.02)
        assert not any(t.name == "clca-openai-http" for t in threading.enumerate())
        assert time.monotonic() - started < 3


@pytest.fixture(scope="module")
def self_signed_certificate(tmp_path_factory):
    """A real certificate for 127.0.0.1 from a throwaway CA of our own (made with the openssl command)."""
    import shutil
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return str(cert), str(key)


def test_https_with_a_private_ca_via_ssl_cert_file_and_an_untrusted_one_fails_at_once(self_signed_certificate,
                                                                                    monkeypatch):
    with OpenAICompatServer(tls=self_signed_certificate) as srv:
        assert srv.base_url.startswith("https://127.0.0.1:")
        monkeypatch.delenv("SSL_CERT_FILE", raising=False)
        untrusted = load_backend(f"openai:m@{srv.base_url}", **FAST)
        with pytest.raises(BackendError, match="not trusted.*SSL_CERT_FILE"):  # at once: no retry makes it trusted
            untrusted.generate([ask("x")])
        untrusted.close()

        monkeypatch.setenv("SSL_CERT_FILE", self_signed_certificate[0])
        trusted = load_backend(f"openai:m@{srv.base_url}", **FAST)
        [result] = trusted.generate([ask("over TLS")])
        trusted.close()
        assert result.ok and result.text == "echo: over TLS"
