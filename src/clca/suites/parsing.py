"""The strict answer parser of generate mode: one option label, or a failure with its reason — never a guess.

Accepted: the label alone ("B", "yes", "True"), wrapped ("(B)", "**B**", "B.", "Answer: B"), or a letter label
followed by its option text ("B. Somewhat good"); a word label may be followed by an explanation that names no
other label ("Yes, because …"). Anything else is invalid: no label, two labels, a letter inside prose ("A person
should …" is not option A).
"""

from __future__ import annotations

import re

_PREFIX = re.compile(r"^(?:the\s+)?(?:final\s+)?answer\s*(?:is|would be)?\s*[:：\-]?\s*", re.I)
_WRAP = "*_`\"'([ "
_HEAD = re.compile(r"^([A-Za-z]+)(.*)$", re.S)
_LETTER_END = re.compile(r"^(?:[\s*_`\"')\]]*(?:[.:,)\]]|$))", re.S)


def _other_labels(rest: str, labels: list[str], chosen: str, letters: bool) -> list[str]:
    if letters:
        pattern = r"(?:^|[\s(])({})(?:[.)]|$)"
        found = re.findall(pattern.format("|".join(map(re.escape, labels))), rest)
        return sorted({f for f in found if f != chosen})
    words = re.findall(r"[A-Za-z]+", rest)
    folded = {label.casefold() for label in labels} - {chosen.casefold()}
    return sorted({w for w in words if w.casefold() in folded})


def parse_choice(text: str | None, labels: list[str]) -> tuple[int | None, str | None]:
    """The index of the one option label in `text`, or the reason there is none.

    Args:
        text: the model's reply.
        labels: the option labels, e.g. ["A", "B", "C", "D"] or ["yes", "no", "neither"].

    Returns:
        `(index, None)` or `(None, reason)`.
    """
    stripped = (text or "").strip()
    if not stripped:
        return None, "empty answer"
    body = _PREFIX.sub("", stripped, count=1).lstrip(_WRAP)
    head = _HEAD.match(body)
    if head is None:
        return None, "no option label at the start of the answer"
    token, rest = head.group(1), head.group(2)
    letters = all(len(label) == 1 for label in labels)
    if letters:
        if token not in labels or not _LETTER_END.match(rest):
            return None, f"the answer does not start with one of the options {', '.join(labels)}"
        chosen = token
    else:
        by_fold = {label.casefold(): label for label in labels}
        if token.casefold() not in by_fold:
            return None, f"the answer does not start with one of {', '.join(labels)}"
        chosen = by_fold[token.casefold()]
    others = _other_labels(rest, labels, chosen, letters)
    if others:
        return None, f"ambiguous: names {chosen} and also {', '.join(others)}"
    return labels.index(chosen), None
