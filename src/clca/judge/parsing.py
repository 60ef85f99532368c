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


def _find_phrase(text: str, table: list[tuple[str, str]]) -> list[str]:
    """Normalised values of all table phrases in `text` (word-bounded, negatives consumed first)."""
    found: list[str] = []
    remaining = text.lower()
    for phrase, value in table:
        pattern = re.compile(rf"(?<![a-z]){re.escape(phrase)}(?![a-z])")
        if pattern.search(remaining):
            found.append(value)
            remaining = pattern.sub(" ", remaining)
    return found


def normalise_label(value: str, part: Part) -> str | None:
    values = set(_find_phrase(value, LABEL_SYNONYMS[part]))
    return values.pop() if len(values) == 1 else None


def normalise_confidence(value: str, field_value: bool = False) -> Confidence | None:
    table = CONFIDENCE_SYNONYMS + FIELD_ONLY_CONFIDENCE if field_value else CONFIDENCE_SYNONYMS
    values = set(_find_phrase(value, table))  # type: ignore[arg-type]
    return values.pop() if len(values) == 1 else None  # type: ignore[return-value]


def _fields(text: str) -> dict[str, str]:
    """KEY: value blocks; a value runs until the next recognised key line."""
    fields: dict[str, str] = {}
    current: str | None = None
    for line in text.splitlines():
        match = _KEY_RE.match(line)
        if match:
            key = match.group(1).lower()
            key = {"verdict": "label", "judgement": "label", "judgment": "label", "final label": "label",
                   "answer": "label", "critique": "reason", "explanation": "reason", "rationale": "reason"}.get(key, key)
            current = key
            if key == "reason":
                fields[key] = (fields.get(key, "") + " " + match.group(2)).strip()
            else:  # a restated LABEL/CONFIDENCE (e.g. the meta-judge quoting the others): the last one counts
                fields[key] = match.group(2).strip()
        elif current is not None and line.strip():
            fields[current] = (fields[current] + " " + line.strip()).strip()
    return fields


def _json_fields(text: str) -> dict[str, str] | None:
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        return None
    try:
        obj = json.loads(text[start : end + 1])
    except (ValueError, RecursionError):
        return None
    if not isinstance(obj, dict):
        return None
    out: dict[str, str] = {}
    for key, value in obj.items():
        k = str(key).lower()
        k = {"critique": "reason", "explanation": "reason", "verdict": "label", "final_label": "label"}.get(k, k)
        if k in ("label", "confidence", "reason") and isinstance(value, (str, int, float)):
            out[k] = str(value)
    return out


def parse_verdict(raw: str | None, part: Part) -> tuple[Verdict | None, str | None]:
    """(verdict, None) or (None, reason it could not be parsed)."""
    text = _FENCE_RE.sub("", raw or "").strip()
    if not text:
        return None, "empty output"
    fields = _json_fields(text) if "{" in text else None
    if not fields or "label" not in fields:
        fields = _fields(text)
    if "label" in fields:
        label = normalise_label(fields["label"], part)
        if label is None:
            return None, f"unrecognised {part} label {fields['label'][:80]!r}"
    else:
        # No LABEL key: accept only when the text names exactly one label of this part (checked before the
        # confidence words, which would otherwise not interfere anyway: the two vocabularies are disjoint).
        label = normalise_label(text, part)
        if label is None:
            return None, f"no {part} label found"
    confidence_source = fields.get("confidence")
    confidence = normalise_confidence(confidence_source, field_value=True) if confidence_source else None
    if confidence is None and confidence_source is None:
        confidence = normalise_confidence(text)
    if confidence is None:
        where = f" {confidence_source[:80]!r}" if confidence_source else ""
        return None, f"no recognisable confidence{where} (expected very confident / confident / not sure)"
    reason = fields.get("reason", "")
    return Verdict(label=label, confidence=confidence, reason=reason.strip()), None
