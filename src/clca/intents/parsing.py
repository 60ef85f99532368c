"""Parse intent sentences and generic/cultural kinds from free text. The parsers never raise."""

from __future__ import annotations

import re

from clca.intents.schema import IntentKind

MAX_INTENT_WORDS = 60

_PREFIX_RE = re.compile(
    r"^\s*[*_#>`\-]*\s*(?:(?:the\s+)?(?:speaker'?s?\s+)?intent(?:ion)?(?:\s+of\s+[^:]{1,40})?|answer|label)\s*[*_`]*\s*[:=\-]\s*",
    re.IGNORECASE,
)
_REFUSAL_RE = re.compile(
    r"^\s*(?:i'?m sorry|i am sorry|sorry,|i cannot|i can't|i can not|as an ai|i'm unable|i am unable|i do not know|"
    r"i don't know|unknown|n/?a\b|none\b)",
    re.IGNORECASE,
)
_QUOTES = "\"'“”‘’«»"
_SPEAKER_RE = re.compile(r"^(?:[A-Z][\w'.-]{0,20}(?:\s+[A-Z][\w'.-]{0,20})?|to)\s*:\s*(?=\S)")
_SENTENCE_END_RE = re.compile(r"(?<=[.!?])\s+")


def parse_intent(raw: str | None) -> tuple[str | None, str | None]:
    """(intent sentence, None) or (None, why it is unusable).

    Takes the first non-empty line, removes an `Intent:` label, markdown and quotes; keeps the first sentence when
    the line is long (the prompt asks for one short sentence). Refusals and empty/one-word answers are failures.
    """
    text = re.sub(r"```[a-zA-Z]*", "", raw or "").strip()
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    line = _PREFIX_RE.sub("", line).strip().strip("*_`").strip()
    line = _SPEAKER_RE.sub("", line, count=1).strip()  # "Mina: To …" / "To: \"To …\"" (small models)
    while len(line) >= 2 and line[0] in _QUOTES and line[-1] in _QUOTES:
        line = line[1:-1].strip()
    line = line.lstrip(_QUOTES).strip()
    if not line:
        return None, "empty output"
    if _REFUSAL_RE.match(line):
        return None, f"refusal or non-answer: {line[:80]!r}"
    if len(line.split()) > MAX_INTENT_WORDS:
        line = _SENTENCE_END_RE.split(line, maxsplit=1)[0]
        words = line.split()
        if len(words) > MAX_INTENT_WORDS:  # a run-on with no sentence end: cut at the word limit
            line = " ".join(words[:MAX_INTENT_WORDS])
    if len(line.split()) < 2:
        return None, f"too short to be an intent: {line!r}"
    return line, None


_GENERIC_RE = re.compile(r"(?<![a-z])(generic|general|universal)(?![a-z])", re.IGNORECASE)
_CULTURAL_RE = re.compile(r"(?<![a-z])(cultural|culture-specific|culturally specific|culture specific)(?![a-z])",
                          re.IGNORECASE)


def parse_kind(raw: str | None) -> tuple[IntentKind | None, str | None]:
    """'generic' | 'cultural' when the answer names exactly one of them."""
    text = raw or ""
    generic = bool(_GENERIC_RE.search(text))
    cultural = bool(_CULTURAL_RE.search(text))
    if generic == cultural:
        return None, f"expected 'generic' or 'cultural', got {text.strip()[:80]!r}"
    return ("generic" if generic else "cultural"), None
