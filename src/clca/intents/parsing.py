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
    problem = label_problem(line)
    return (None, problem) if problem else (line, None)


_LABEL_PREFIX_RE = re.compile(r"(?<![\w'])[A-Za-z][\w'-]{0,20}\s*:")
_DANGLING = frozenset(
    "a an the to of for with and or but that which who in on at by from as than into about because so if my your "
    "his her their our its is are was be".split()
)
_FUNCTION_WORDS = _DANGLING | {"in", "order", "not", "it", "this", "i", "you", "he", "she", "they", "we"}


def label_problem(label: str) -> str | None:
    """Why `label` is not an intent (a repetition or a fragment), or None for a usable label.

    Repetition: a `Word:` label left inside it ("To: To: …"), one word three times in a row, or fewer than half
    of its words distinct (from 4 words). Fragment: it ends on a word that needs a continuation ("To persuade
    the"), or it has no content word ("In order to").
    """
    tokens = re.findall(r"[\w']+", label.lower())
    if len(_LABEL_PREFIX_RE.findall(label)) >= 1 and len(tokens) <= 2 * len(_LABEL_PREFIX_RE.findall(label)) + 2:
        return f"repetition of a label, not an intent: {label[:80]!r}"
    if any(a == b == c for a, b, c in zip(tokens, tokens[1:], tokens[2:], strict=False)) or (
        len(tokens) >= 4 and len(set(tokens)) < len(tokens) / 2
    ):
        return f"repetition, not an intent: {label[:80]!r}"
    if not tokens or tokens[-1] in _DANGLING and not label.rstrip().endswith((".", "!", "?")):
        return f"fragment, not an intent: {label[:80]!r}"
    if all(t in _FUNCTION_WORDS for t in tokens):
        return f"fragment without content, not an intent: {label[:80]!r}"
    return None


_GENERIC_RE = re.compile(r"(?<![a-z])(generic|general|universal)(?![a-z])", re.IGNORECASE)
_CULTURAL_RE = re.compile(r"(?<![a-z])(cultural|culture-specific|culturally specific|culture specific)(?![a-z])",
                          re.IGNORECASE)


_NEGATED_RE = re.compile(
    r"(?:(?<![a-z])(?:not|never|no|non-?|neither|nor)|n't)\s*(?:a|an|really|very|at all|particularly|specifically|"
    r"purely)?\s*(generic|general|universal|cultural|culture-specific|culturally specific|culture specific)",
    re.IGNORECASE,
)


def parse_kind(raw: str | None) -> tuple[IntentKind | None, str | None]:
    """'generic' | 'cultural' when the answer names exactly one of them outside a negation: "not cultural" alone is
    a failure (it would otherwise read as "cultural"); "cultural, not generic" is cultural."""
    text = raw or ""
    if negated := _NEGATED_RE.search(text):
        rest = _NEGATED_RE.sub(" ", text)
        generic, cultural = bool(_GENERIC_RE.search(rest)), bool(_CULTURAL_RE.search(rest))
        if generic == cultural:
            return None, f"negated kind {negated.group(0)!r} is not an answer: {text.strip()[:80]!r}"
        return ("generic" if generic else "cultural"), None
    generic = bool(_GENERIC_RE.search(text))
    cultural = bool(_CULTURAL_RE.search(text))
    if generic == cultural:
        return None, f"expected 'generic' or 'cultural', got {text.strip()[:80]!r}"
    return ("generic" if generic else "cultural"), None
