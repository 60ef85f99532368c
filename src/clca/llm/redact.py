"""Keep an API key out of text a server sends back (error messages, echoed headers).

A server may echo the key in another case, truncated, URL-, HTML-entity- or base64-encoded (e.g. an echoed
`Authorization: Basic …` header). `leaks` looks through all of those; `redact` withholds any text that leaks.
"""

from __future__ import annotations

import base64
import binascii
import html
import re
import urllib.parse

_B64_TOKEN = re.compile(r"[A-Za-z0-9+/_-]{12,}={0,2}")
_MIN_FRAGMENT = 8  # shorter pieces of a key are too likely to occur by chance
WITHHELD = "<server text withheld: it contained the API key>"


def _fragments(key: str) -> set[str]:
    """The key and the key missing up to 4 characters at either end, lower-cased (a truncated echo still leaks)."""
    key = key.lower()
    if len(key) < _MIN_FRAGMENT:
        return {key}
    cut = min(4, len(key) - _MIN_FRAGMENT)
    return {key[i : len(key) - j] for i in range(cut + 1) for j in range(cut + 1 - i)}


def _decoded_views(text: str) -> list[str]:
    views = [text, html.unescape(text), urllib.parse.unquote_plus(text), html.unescape(urllib.parse.unquote(text))]
    for token in _B64_TOKEN.findall(text):
        padded = token + "=" * (-len(token) % 4)
        for decode in (base64.b64decode, base64.urlsafe_b64decode):
            try:
                views.append(decode(padded).decode("latin-1"))
            except (binascii.Error, ValueError):
                pass
    return views


def leaks(text: str, key: str | None) -> bool:
    """Whether `text` reveals `key` (or most of it) in any case, plain or encoded.

    Args:
        text: text from a server.
        key: the API key, or None.

    Returns:
        True when any decoded view of the text holds the key or a fragment of it.
    """
    if not key or not text:
        return False
    fragments = _fragments(key)
    return any(f in view.lower() for view in _decoded_views(text) for f in fragments)


def redact(text: str, key: str | None) -> str:
    """`text` without the key: plain occurrences replaced; text leaking it any other way is withheld whole.

    Args:
        text: text from a server.
        key: the API key, or None.

    Returns:
        Text safe to print, log and store.
    """
    if not leaks(text, key):
        return text
    assert key is not None
    plain = re.sub(re.escape(key), "<api key>", text, flags=re.IGNORECASE)
    return WITHHELD if leaks(plain, key) else plain
