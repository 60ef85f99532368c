"""Parsing backend spec strings (`embedded`, `hf:NAME+adapter=PATH`, `openai:MODEL@URL,URL`)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from clca.errors import BackendError

ACCEPTED_FORMS = (
    "embedded | embedded+adapter=PATH | hf:<path or name>[+adapter=PATH] | openai:<model>@<base_url>[,<base_url>…]"
)

BackendKind = Literal["embedded", "hf", "openai"]


@dataclass(frozen=True)
class BackendSpec:
    kind: BackendKind
    model: str | None = None  # hf path/name or served model name; None for embedded
    adapter: str | None = None  # LoRA adapter directory (local backends only)
    base_urls: tuple[str, ...] = field(default_factory=tuple)  # openai only


def _bad(spec: str, why: str) -> BackendError:
    return BackendError(f"model spec {spec!r}: {why}; accepted forms: {ACCEPTED_FORMS}")


def _split_adapter(spec: str, body: str) -> tuple[str, str | None]:
    """`NAME+adapter=PATH` → (NAME, PATH). The adapter part is always last."""
    if "+adapter=" not in body:
        if "+" in body and body.rsplit("+", 1)[1].split("=", 1)[0] in {"adapter", "lora"}:
            raise _bad(spec, "write the adapter as '+adapter=PATH'")
        return body, None
    name, adapter = body.split("+adapter=", 1)
    if not adapter.strip():
        raise _bad(spec, "'+adapter=' needs a path")
    return name, adapter.strip()


def parse_spec(spec: str) -> BackendSpec:
    if not isinstance(spec, str) or not spec.strip():
        raise _bad(str(spec), "empty spec")
    spec = spec.strip()
    if spec == "embedded" or spec.startswith("embedded+"):
        name, adapter = _split_adapter(spec, spec)
        if name != "embedded":
            raise _bad(spec, "unknown option after 'embedded'")
        return BackendSpec(kind="embedded", adapter=adapter)
    if spec.startswith("hf:"):
        name, adapter = _split_adapter(spec, spec[3:])
        if not name.strip():
            raise _bad(spec, "'hf:' needs a local model path or a Hugging Face model name")
        return BackendSpec(kind="hf", model=name.strip(), adapter=adapter)
    if spec.startswith("openai:"):
        body = spec[len("openai:"):]
        if "@" not in body:
            raise _bad(spec, "'openai:' needs '<model>@<base_url>', e.g. openai:gpt-4o-mini@https://api.openai.com/v1")
        # The URL list starts at the first '@http' so that model names containing '@' still parse.
        at = body.find("@http")
        model, urls = (body[:at], body[at + 1:]) if at >= 0 else body.split("@", 1)
        if "+adapter=" in body:
            raise _bad(spec, "adapters are not supported for 'openai:' (serve the adapter on the server instead)")
        base_urls = tuple(u.strip().rstrip("/") for u in urls.split(",") if u.strip())
        if not model.strip() or not base_urls:
            raise _bad(spec, "'openai:' needs both a model name and at least one base URL")
        for url in base_urls:
            if not (url.startswith("http://") or url.startswith("https://")):
                raise _bad(spec, f"base URL {url!r} must start with http:// or https://")
        return BackendSpec(kind="openai", model=model.strip(), base_urls=base_urls)
    raise _bad(spec, "unknown backend")


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
# Case-sensitive: keys use these lower-case (or AWS's AKIA) prefixes; variable names are conventionally upper-case.
_SECRET_PREFIXES = ("sk_", "sk-", "hf_", "ghp_", "gho_", "ghs_", "github_pat_", "glpat", "xox", "AKIA")


def check_env_name(name: str) -> str:
    """`name` if it can name an environment variable; never echoes it back (it may be the key itself).

    Args:
        name: the value given as api_key_env / --api-key-env.

    Returns:
        The name, stripped.

    Raises:
        ValueError: not a valid name, or it looks like an API key (a common mistake); the message omits it.
    """
    stripped = name.strip()
    looks_secret = stripped.startswith(_SECRET_PREFIXES) or (
        len(stripped) >= 24 and any(c.islower() for c in stripped) and any(c.isdigit() for c in stripped))
    if not _ENV_NAME.fullmatch(stripped) or looks_secret:
        raise ValueError(f"must be the NAME of an environment variable holding the key (e.g. OPENAI_API_KEY), not the "
                         f"key itself; the {len(name)}-character value given is not shown")
    return stripped


def server_identity(base_urls: tuple[str, ...] | list[str]) -> str:
    """Which server(s) answer: the base URLs without credentials, query or fragment, sorted (order is load balancing).

    Args:
        base_urls: the spec's base URLs.

    Returns:
        A stable string for cache keys and provenance, e.g. "http://127.0.0.1:8000/v1".
    """
    cleaned = set()
    for url in base_urls:
        parts = urlsplit(url)
        host = parts.hostname or ""
        netloc = f"[{host}]" if ":" in host else host
        netloc += f":{parts.port}" if parts.port else ""
        cleaned.add(urlunsplit((parts.scheme.lower(), netloc.lower(), parts.path.rstrip("/"), "", "")))
    return ",".join(sorted(cleaned))
