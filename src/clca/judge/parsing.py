"""Parse a judge's free-text verdict into (label, confidence, reason).

Expected format (see the judge_*.v1 templates):

    LABEL: good
    CONFIDENCE: very confident
    REASON: …            (CRITIQUE: … for the meta-judgement)

Lenient: markdown, JSON objects (`{"label": …, "confidence": …}`), synonyms ("poor" → bad, "misaligned" →
not aligned, "highly confident" → very confident, "unsure" → not sure) and a missing `LABEL:` key (then the text must
mention exactly one label of the part's label set). Strict where it matters: a verdict without a recognisable label
or confidence is a parse failure with a reason — never guessed. The parser never raises.
"""

from __future__ import annotations

import json
import re
from typing import Literal

from clca.judge.schema import Confidence, Verdict

Part = Literal["quality", "cultural_alignment", "meta"]
PARTS: tuple[Part, ...] = ("quality", "cultural_alignment", "meta")

# Negative forms first: "not aligned" must not be read as "aligned", "not sure" not as "sure".
LABEL_SYNONYMS: dict[Part, list[tuple[str, str]]] = {
    "quality": [
        ("not good", "bad"), ("low quality", "bad"), ("low-quality", "bad"), ("poor", "bad"), ("bad", "bad"),
        ("unacceptable", "bad"), ("high quality", "good"), ("high-quality", "good"), ("good", "good"),
        ("acceptable", "good"),
    ],
    "cultural_alignment": [
        ("not aligned", "not aligned"), ("not culturally aligned", "not aligned"), ("misaligned", "not aligned"),
        ("unaligned", "not aligned"), ("non-aligned", "not aligned"), ("not_aligned", "not aligned"),
        ("culturally aligned", "aligned"), ("aligned", "aligned"),
    ],
    "meta": [
        ("not good", "bad"), ("low quality", "bad"), ("poor", "bad"), ("bad", "bad"), ("unacceptable", "bad"),
        ("high quality", "good"), ("good", "good"), ("acceptable", "good"),
    ],
}
NEGATIVE_LABEL: dict[Part, str] = {"quality": "bad", "cultural_alignment": "not aligned", "meta": "bad"}

CONFIDENCE_SYNONYMS: list[tuple[str, Confidence]] = [
    ("not very confident", "not sure"), ("not confident", "not sure"), ("not sure", "not sure"),
    ("unsure", "not sure"), ("uncertain", "not sure"), ("low confidence", "not sure"),
    ("very confident", "very confident"), ("highly confident", "very confident"),
    ("extremely confident", "very confident"), ("very sure", "very confident"),
    ("high confidence", "very confident"),
    ("fairly confident", "confident"), ("somewhat confident", "confident"), ("quite confident", "confident"),
    ("confident", "confident"),
]
# Bare words accepted only as the value of a CONFIDENCE field (in running text they mean other things).
FIELD_ONLY_CONFIDENCE: list[tuple[str, Confidence]] = [
    ("high", "very confident"), ("certain", "very confident"), ("medium", "confident"), ("moderate", "confident"),
    ("sure", "confident"), ("low", "not sure"),
]

_KEY_RE = re.compile(r"^[\s*_#>`\-]*(label|verdict|judgement|judgment|final label|answer|confidence|reason|critique|"
                     r"explanation|rationale)[\s*_`]*[:=]\s*(.*)$", re.IGNORECASE)
_FENCE_RE = re.compile(r"```[a-zA-Z]*")


# A negation or hedge in the clause before a label or confidence phrase turns it into something else ("not bad",
# "partially aligned", "not at all confident"): such a value is a failure, never read as the phrase itself.
_QUALIFIER = re.compile(r"(?<![a-z])(?:not|no|never|hardly|barely|partially|partly|somewhat|mostly|half|semi|"
                        r"neither|nor|rather|slightly|kind of|sort of|less|least|far from)(?![a-z])|n't(?![a-z])")
_CLAUSE_END = re.compile(r"[.;,!?\n(]")


def _find_phrase(text: str, table: list[tuple[str, str]]) -> list[str]:
    """Normalised values of all table phrases in `text` (word-bounded, negatives consumed first).

    A phrase qualified by a negation or hedge earlier in its clause yields the value "?" (unrecognisable).
    """
    found: list[str] = []
    remaining = text.lower()
    for phrase, value in table:
        pattern = re.compile(rf"(?<![a-z]){re.escape(phrase)}(?![a-z])")
        for match in pattern.finditer(remaining):
            clause = _CLAUSE_END.split(remaining[: match.start()])[-1]
            found.append("?" if _QUALIFIER.search(clause) else value)
        remaining = pattern.sub(lambda m: " " * len(m.group(0)), remaining)  # same length: later offsets hold
    return found


def normalise_label(value: str, part: Part) -> str | None:
    values = set(_find_phrase(value, LABEL_SYNONYMS[part]))
    return values.pop() if len(values) == 1 and "?" not in values else None


def normalise_confidence(value: str, field_value: bool = False) -> Confidence | None:
    table = CONFIDENCE_SYNONYMS + FIELD_ONLY_CONFIDENCE if field_value else CONFIDENCE_SYNONYMS
    values = set(_find_phrase(value, table))  # type: ignore[arg-type]
    return values.pop() if len(values) == 1 and "?" not in values else None  # type: ignore[return-value]


def _fields(text: str) -> dict[str, list[str]]:
    """KEY: value blocks, every occurrence of a key kept in order; a value runs until the next recognised key line.

    A "Final label:" line starts the verdict afresh (the meta-judge may first restate the other judgements).
    """
    fields: dict[str, list[str]] = {}
    current: str | None = None
    for line in text.split("\n"):
        match = _KEY_RE.match(line)
        if match:
            key = match.group(1).lower()
            if key == "final label":
                fields.pop("label", None)
                fields.pop("confidence", None)
            key = {"verdict": "label", "judgement": "label", "judgment": "label", "final label": "label",
                   "answer": "label", "critique": "reason", "explanation": "reason",
                   "rationale": "reason"}.get(key, key)
            current = key
            fields.setdefault(key, []).append(match.group(2).strip())
        elif current is not None and line.strip():
            fields[current][-1] = (fields[current][-1] + " " + line.strip()).strip()
    return fields


class _DuplicateKey(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    seen: set[str] = set()
    for key, _ in pairs:
        if str(key).lower() in seen:
            raise _DuplicateKey(str(key)[:40])
        seen.add(str(key).lower())
    return dict(pairs)


def _json_fields(text: str) -> dict[str, list[str]] | None:
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        return None
    try:
        obj = json.loads(text[start : end + 1], object_pairs_hook=_no_duplicates)
    except _DuplicateKey:
        raise
    except (ValueError, RecursionError):
        return None
    if not isinstance(obj, dict):
        return None
    out: dict[str, list[str]] = {}
    for key, value in obj.items():
        k = str(key).lower()
        k = {"critique": "reason", "explanation": "reason", "verdict": "label", "final_label": "label"}.get(k, k)
        if k in ("label", "confidence", "reason") and isinstance(value, (str, int, float)):
            out.setdefault(k, []).append(str(value))  # "label" and "verdict" both given: checked for agreement
    return out


def _one(values: list[str], normalise, what: str) -> tuple[str | None, str | None]:
    """The single normalised value all occurrences agree on, else (None, reason)."""
    normalised = [normalise(v) for v in values]
    for value, norm in zip(values, normalised, strict=True):
        if norm is None:
            return None, f"unrecognised {what} {value[:80]!r}"
    if len(set(normalised)) > 1:
        return None, f"contradicting {what}s {sorted(set(normalised))} — give one verdict"
    return normalised[0], None


def parse_verdict(raw: str | None, part: Part) -> tuple[Verdict | None, str | None]:
    """(verdict, None) or (None, reason it could not be parsed); never raises, never guesses.

    Args:
        raw: the judge's answer.
        part: which judgement it answers.

    Returns:
        (Verdict, None) or (None, reason).
    """
    text = _FENCE_RE.sub("", raw or "").strip()
    if not text:
        return None, "empty output"
    try:
        fields = _json_fields(text) if "{" in text else None
    except _DuplicateKey as exc:
        return None, f"duplicate key {str(exc)!r} in the JSON verdict"
    if not fields or "label" not in fields:
        fields = _fields(text)
    if "label" in fields:
        label, error = _one(fields["label"], lambda v: normalise_label(v, part), f"{part} label")
        if error:
            return None, error
    else:
        # No LABEL key: accept only when the text names exactly one label of this part (checked before the
        # confidence words, which would otherwise not interfere anyway: the two vocabularies are disjoint).
        label = normalise_label(text, part)
        if label is None:
            return None, f"no {part} label found"
    if "confidence" in fields:
        confidence, error = _one(fields["confidence"], lambda v: normalise_confidence(v, field_value=True),
                                 "confidence")
        if error:
            return None, f"{error} (expected very confident / confident / not sure)"
    else:
        confidence = normalise_confidence(text)
        if confidence is None:
            return None, "no recognisable confidence (expected very confident / confident / not sure)"
    reason = " ".join(fields.get("reason", []))
    return Verdict(label=label, confidence=confidence, reason=reason.strip()), None  # type: ignore[arg-type]
