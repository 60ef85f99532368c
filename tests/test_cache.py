"""The SQLite response cache: hits skip the backend, every key part matters, only reproducible successes are
stored, and several processes can write at once (WAL)."""

from __future__ import annotations

import math
import sqlite3
import subprocess
import sys
import textwrap

import pytest

from clca.llm import GenerationRequest, Message, ModelIdentity, OptionScoringRequest, ScoringFailure, load_backend
from clca.llm.cache import CachedBackend, ResponseCache, cache_key
from clca.llm.weights import embedded_model_dir
from clca.testing import FaultPlan, OpenAICompatServer


@pytest.fixture()
def cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("CLCA_CACHE_DIR", str(tmp_path))
    return tmp_path


@pytest.fixture(scope="module")
def chat_tokenizer_dir():
    """The embedded model's folder, resolved in the real user cache (before `cache_home` redirects it)."""
    return str(embedded_model_dir()[0])


def ask(text: str = "hi", **kwargs) -> GenerationRequest:
    return GenerationRequest(messages=[Message(role="user", content=text)], **kwargs)


def test_hit_skips_the_backend_and_returns_what_was_stored(cache_home):
    with OpenAICompatServer() as srv:
        backend = load_backend(f"openai:m@{srv.base_url}")
        assert isinstance(backend, CachedBackend)
        first = backend.generate([ask("a"), ask("b")])
        second = backend.generate([ask("b"), ask("a"), ask("c")])
        assert srv.calls == 3  # a, b, then only c
        assert [r.cached for r in second] == [True, True, False]
        assert second[1].model_dump(exclude={"cached"}) == first[0].model_dump(exclude={"cached"})
        # a new backend object (another run) sees the same cache file
        assert load_backend(f"openai:m@{srv.base_url}").generate([ask("a")])[0].cached
        assert srv.calls == 3
    assert (cache_home / "responses.sqlite").is_file()


@pytest.mark.parametrize(
    "changed",
    [ask("other text"), ask(max_tokens=99), ask(seed=5), ask(stop=["x"]), ask(top_p=0.5),
     GenerationRequest(messages=[Message(role="system", content="s"), Message(role="user", content="hi")])],
)
def test_changing_any_request_part_misses(cache_home, changed):
    with OpenAICompatServer() as srv:
        backend = load_backend(f"openai:m@{srv.base_url}")
        backend.generate([ask()])
        [result] = backend.generate([changed])
        assert not result.cached and srv.calls == 2


def test_changing_the_model_misses(cache_home):
    with OpenAICompatServer() as srv:
        load_backend(f"openai:model-a@{srv.base_url}").generate([ask()])
        assert not load_backend(f"openai:model-b@{srv.base_url}").generate([ask()])[0].cached
        assert srv.calls == 2


def test_every_identity_part_is_in_the_key():
    base = ModelIdentity(backend="hf", model="m", weights_sha256="a" * 64, adapter="/x", adapter_sha256="b" * 64)
    request = ask()
    keys = {cache_key("generate", base, request)}
    for change in [{"backend": "embedded"}, {"model": "n"}, {"weights_sha256": "c" * 64}, {"adapter": "/y"},
                   {"adapter_sha256": "d" * 64}]:
        keys.add(cache_key("generate", base.model_copy(update=change), request))
    keys.add(cache_key("score_options", base, request))
    assert len(keys) == 7


def test_unseeded_sampling_and_failures_are_not_cached(cache_home):
    plan = FaultPlan(by_request=lambda body: "500" if body["messages"][0]["content"] == "fails" else None)
    with OpenAICompatServer(faults=plan) as srv:
        backend = load_backend(f"openai:m@{srv.base_url}", max_retries=0)
        for _ in range(2):
            sampled, failed, seeded = backend.generate([ask("s", temperature=0.7), ask("fails"), ask("t", seed=1,
                                                                                                      temperature=1)])
        assert not sampled.cached and not failed.ok and seeded.cached
        assert srv.calls == 5  # sampled ×2, fails ×2, seeded once


def test_cache_off_always_calls_the_backend(cache_home):
    with OpenAICompatServer() as srv:
        backend = load_backend(f"openai:m@{srv.base_url}", cache=False)
        backend.generate([ask()])
        backend.generate([ask()])
        assert srv.calls == 2 and not (cache_home / "responses.sqlite").exists()


def char_scorer(prompt: str):
    """One "token" per character, each log-prob -0.1: easy to check by hand."""
    return [(ch, None if i == 0 else -0.1) for i, ch in enumerate(prompt)]


def test_option_scores_are_cached(chat_tokenizer_dir, cache_home):
    with OpenAICompatServer(scorer=char_scorer) as srv:
        backend = load_backend(f"openai:m@{srv.base_url}", tokenizer=chat_tokenizer_dir)
        request = OptionScoringRequest(messages=[Message(role="user", content="q")], options=["ab", "abcd"])
        first = backend.score_options([request])
        # option + "<|im_end|>" (10 characters) at -0.1 per character
        assert first[0] == pytest.approx([-1.2, -1.4])
        assert backend.score_options([request]) == first and srv.calls == 2


def test_option_scoring_failures_are_returned_per_request_and_never_cached(chat_tokenizer_dir, cache_home):
    plan = FaultPlan(by_request=lambda body: "503" if "doomed" in body.get("prompt", "") else None)
    with OpenAICompatServer(scorer=char_scorer, faults=plan) as srv:
        backend = load_backend(f"openai:m@{srv.base_url}", tokenizer=chat_tokenizer_dir, max_retries=1,
                               retry_backoff_s=0.01)
        fine = OptionScoringRequest(messages=[Message(role="user", content="q")], options=["ab", "abcd"])
        doomed = OptionScoringRequest(messages=[Message(role="user", content="doomed")], options=["ab", "abcd"])
        for expected_calls in (2 + 4, 2 + 4 + 4):  # fine: 2 options once; doomed: 2 options x 2 attempts, each run
            scored_fine, failed = backend.score_options([fine, doomed])
            assert scored_fine == pytest.approx([-1.2, -1.4])
            assert isinstance(failed, ScoringFailure) and len(failed) == 2 and all(math.isnan(x) for x in failed)
            assert "2 attempts failed" in failed.error and "HTTP 503" in failed.error
            assert srv.calls == expected_calls  # the failure was not cached: the rerun asks again


WRITER = textwrap.dedent("""
    import sys
    from clca.llm.cache import ResponseCache
    cache = ResponseCache(sys.argv[1])
    for i in range(150):
        cache.put_many([(f"{sys.argv[2]}-{i}", "generate", '{"n": %d}' % i)])
""")


def test_two_writer_processes_share_the_cache_in_wal_mode(tmp_path):
    path = tmp_path / "responses.sqlite"
    ResponseCache(path).put_many([("seed", "generate", "{}")])
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), name]) for name in ("p1", "p2")]
    assert [w.wait(timeout=120) for w in writers] == [0, 0]
    cache = ResponseCache(path)
    assert len(cache) == 301
    assert cache.get_many(["p1-149", "p2-0"]) == {"p1-149": '{"n": 149}', "p2-0": '{"n": 0}'}
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_submitted_requests_are_served_from_and_stored_in_the_cache(cache_home):
    with OpenAICompatServer() as srv:
        backend = load_backend(f"openai:m@{srv.base_url}")
        assert backend.supports_submit
        fresh = backend.submit(ask("p")).result(timeout=10)
        assert not fresh.cached and srv.calls == 1
        again = backend.submit(ask("p")).result(timeout=10)  # stored before the first future resolved
        assert again.cached and again.text == fresh.text and srv.calls == 1
        assert backend.generate([ask("p")])[0].cached  # one cache for both ways of asking
        sampled = [backend.submit(ask("s", temperature=0.7)).result(timeout=10) for _ in range(2)]
        assert not any(r.cached for r in sampled) and srv.calls == 3
        backend.close()
