"""What an OpenAI-compatible server says about its engine: name and version, for provenance.

Asked once per backend, with short GETs that need nothing beyond the API: `<base_url>/models` (the served model's
`owned_by`, e.g. "vllm"; the `Server` header) and `<root>/version` (vLLM and SGLang answer `{"version": …}`; the
root is the base URL without its trailing `/v1`). A server that answers neither leaves both unknown (None).
"""

from __future__ import annotations

import json
import logging
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass

log = logging.getLogger(__name__)
PROBE_TIMEOUT_S = 5.0
# `owned_by` values that name an account rather than an engine (OpenAI's own API, some proxies)
_NOT_ENGINES = {"", "system", "user", "organization-owner", "openai-internal"}


@dataclass(frozen=True)
class EngineInfo:
    engine: str | None = None
    version: str | None = None


def _get(url: str, headers: dict[str, str], timeout: float, context: ssl.SSLContext | None):
    """(status, headers, parsed JSON or None); None when no answer came."""
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            body, status, reply_headers = response.read(1 << 20), response.status, response.headers
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, None
    except (OSError, ValueError):  # refused, unreachable, timeout, bad URL
        return None
    try:
        return status, reply_headers, json.loads(body)
    except ValueError:
        return status, reply_headers, None


def _server_header(value: str | None) -> EngineInfo:
    """`llama.cpp/b3000` → (llama.cpp, b3000); `uvicorn` → (uvicorn, None)."""
    product = (value or "").split()[0] if (value or "").strip() else ""
    name, _, version = product.partition("/")
    return EngineInfo(name or None, version or None)


def probe_engine(base_url: str, model: str, headers: dict[str, str], timeout: float = PROBE_TIMEOUT_S,
                 context: ssl.SSLContext | None = None) -> EngineInfo:
    """Ask one server which engine serves `model`.

    Args:
        base_url: the OpenAI API base (normally ending in `/v1`).
        model: the served model name, whose `/models` entry names its owner.
        headers: sent with each GET (the Authorization header, when the backend has a key).
        timeout: seconds per GET.
        context: TLS context for https URLs.

    Returns:
        The engine (the model's `owned_by`, else the Server header's product) and its version (`/version`, else
        the Server header's); None where the server does not say.
    """
    listed = _get(f"{base_url}/models", headers, timeout, context)
    if listed is None:
        return EngineInfo()
    _, reply_headers, data = listed
    from_header = _server_header(reply_headers.get("Server") if reply_headers else None)
    entries = data.get("data") if isinstance(data, dict) else None
    entry = next((e for e in entries or [] if isinstance(e, dict) and e.get("id") == model), None)
    owner = entry.get("owned_by") if entry else None
    engine = owner if isinstance(owner, str) and owner.strip() not in _NOT_ENGINES else from_header.engine
    root = base_url.removesuffix("/v1")
    answered = _get(f"{root}/version", headers, timeout, context) if root != base_url else None
    version = answered[2].get("version") if answered and answered[0] == 200 and isinstance(answered[2], dict) else None
    if not isinstance(version, str) or not version.strip():
        version = from_header.version if engine == from_header.engine else None
    return EngineInfo(engine.strip()[:100] if engine else None, version.strip()[:100] if version else None)


def combine(infos: list[EngineInfo]) -> EngineInfo:
    """One identity for several replicas: the common value, or every distinct one joined by ' | ' (replicas on
    different versions give different outputs, and provenance should say so)."""
    def joined(values: list[str | None]) -> str | None:
        known = sorted({v for v in values if v})
        return " | ".join(known) if known else None

    return EngineInfo(joined([i.engine for i in infos]), joined([i.version for i in infos]))
