"""Human WVS answers: respondent-level files, answer distributions, and seeded respondent sampling.

Readers accept the layouts WVS data comes in:
- the official per-country "Csv" download (`;`-separated, UTF-8 with BOM, quoted header);
- the official cross-national CSV (`,`-separated; pandas exports of it may carry an unnamed index column first);
- the q50 reference files (`B_COUNTRY, B_COUNTRY_ALPHA, Q27 …`) whose trailing `Avg…` summary rows are dropped.
Codes stay raw: any negative code is a WVS missing value (-1 don't know, -2 no answer, -3 not applicable,
-4 not asked, -5 missing) — never an answer option — while 0 is a valid code for some questions (Q122-Q129).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from clca.errors import InputDataError
from clca.evaluation.questions import Question

NOT_ASKED = -4
MISSING_LABELS = {-1: "don't know", -2: "no answer", -3: "not applicable", -4: "not asked", -5: "missing"}

# Demographic variables used for personas (see clca.evaluation.personas for their labels).
DEMOGRAPHIC_COLUMNS = [
    "H_SETTLEMENT", "H_URBRURAL", "N_REGION_ISO", "Q260", "Q262", "X003R", "Q263", "Q270", "Q273", "Q275",
    "Q279", "Q281", "Q287",
]


class Respondent(BaseModel):
    """One real survey respondent: raw answer codes (negatives = missing) and demographic codes."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str
    country: str
    answers: dict[str, int]
    demographics: dict[str, int] = Field(default_factory=dict)


class SurveyDistribution(BaseModel):
    """Human answer distribution of one question in one country, over the valid codes only."""

    model_config = ConfigDict(extra="forbid")
    country: str
    question: str
    codes: list[int]
    shares: list[float]  # aligned with codes; sums to 1 unless not_asked
    n_valid: int | None = None  # None when the source gives shares only
    n_total: int | None = None
    missing_shares: dict[int, float] = Field(default_factory=dict)  # negative code -> share of all respondents
    not_asked: bool = False
    source: str = ""


def _sniff_separator(path: Path) -> str:
    with open(path, encoding="utf-8-sig", errors="replace") as fh:
        header = fh.readline()
    return ";" if header.count(";") > header.count(",") else ","


def read_wvs_csv(
    path: str | Path, questions: Sequence[str], demographics: bool = True, country: str | None = None
) -> list[Respondent]:
    """Read respondents from a WVS CSV; `questions` (ids such as `Q27`) must all be columns of the file.

    Demographic columns are read when present (files without them give country-only personas).
    `country` keeps only that ISO3 country's rows (cross-national files).
    """
    path = Path(path)
    if not path.is_file():
        raise InputDataError(f"{path}: WVS file not found — check the path")
    wanted = set(questions) | {"B_COUNTRY", "B_COUNTRY_ALPHA", "D_INTERVIEW"}
    if demographics:
        wanted |= set(DEMOGRAPHIC_COLUMNS)
    sep = _sniff_separator(path)
    try:
        frame = pd.read_csv(
            path, sep=sep, encoding="utf-8-sig", dtype=str, usecols=lambda c: c.strip() in wanted,
            keep_default_na=False,
        )
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise InputDataError(f"{path}: cannot parse as a WVS CSV ({str(exc).splitlines()[0]})") from None
    frame.columns = [c.strip() for c in frame.columns]
    for column in ["B_COUNTRY_ALPHA", *questions]:
        if column not in frame.columns:
            raise InputDataError(
                f"{path}: column {column!r} is missing — use a WVS wave 7 file that contains it"
            )
    # Summary rows (`Avg`, `Avg_First`, `Avg_Last`) at the end of the q50 reference files are not respondents.
    is_summary = frame["B_COUNTRY"].str.strip().str.startswith("Avg") if "B_COUNTRY" in frame else False
    frame = frame[~is_summary] if isinstance(is_summary, pd.Series) else frame
    if country is not None:
        frame = frame[frame["B_COUNTRY_ALPHA"].str.strip() == country]

    numeric_columns = [c for c in frame.columns if c not in ("B_COUNTRY_ALPHA",)]
    codes: dict[str, np.ndarray] = {}
    for column in numeric_columns:
        text = frame[column].str.strip()
        values = pd.to_numeric(text, errors="coerce")
        bad = values.isna() | (values != values.round())
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            line = int(frame.index[row]) + 2  # header is line 1
            raw = text.iloc[row]
            what = "empty (truncated file?)" if not isinstance(raw, str) or raw == "" else f"not an integer code ({raw!r})"
            raise InputDataError(f"{path}: line {line}, column {column!r}: {what} — WVS codes must be integers")
        codes[column] = values.astype(np.int64).to_numpy()

    alpha = frame["B_COUNTRY_ALPHA"].str.strip().to_numpy()
    interview = codes.get("D_INTERVIEW")
    demo_columns = [c for c in DEMOGRAPHIC_COLUMNS if c in codes] if demographics else []
    respondents = []
    for i in range(len(frame)):
        rid = str(interview[i]) if interview is not None else f"{alpha[i]}-row{int(frame.index[i]) + 1}"
        respondents.append(
            Respondent(
                id=rid,
                country=str(alpha[i]),
                answers={q: int(codes[q][i]) for q in questions},
                demographics={c: int(codes[c][i]) for c in demo_columns},
            )
        )
    ids = [r.id for r in respondents]
    if len(set(ids)) != len(ids):
        raise InputDataError(f"{path}: column 'D_INTERVIEW' has duplicate respondent ids — the file is corrupt")
    return respondents


def distribution_from_codes(
    country: str, question: Question, raw_codes: Iterable[int], source: str
) -> SurveyDistribution:
    """Unweighted distribution of valid codes; negative codes are reported as missing shares."""
    values = np.asarray(list(raw_codes), dtype=np.int64)
    n_total = int(values.size)
    valid = values[values >= 0]
    unknown = sorted(set(valid.tolist()) - set(question.codes))
    if unknown:
        raise InputDataError(
            f"{source}: {country} {question.id} has codes {unknown} that are not options of {question.id} "
            f"({question.codes}) — wrong file or column"
        )
    counts = [int((valid == code).sum()) for code in question.codes]
    n_valid = int(valid.size)
    missing = {int(c): int((values == c).sum()) / n_total for c in sorted(set(values[values < 0].tolist()))}
    not_asked = n_total > 0 and bool((values == NOT_ASKED).all())
    shares = [c / n_valid for c in counts] if n_valid else [0.0] * len(counts)
    return SurveyDistribution(
        country=country, question=question.id, codes=question.codes, shares=shares, n_valid=n_valid,
        n_total=n_total, missing_shares=missing, not_asked=not_asked, source=source,
    )


def distributions_from_respondents(
    respondents: Sequence[Respondent], questions: Sequence[Question], country: str, source: str
) -> dict[str, SurveyDistribution]:
    return {
        q.id: distribution_from_codes(country, q, (r.answers[q.id] for r in respondents), source) for q in questions
    }


def sample_respondents(respondents: Sequence[Respondent], n: int, seed: int) -> list[Respondent]:
    """`n` respondents without replacement, reproducible from `seed` alone.

    Sorting by id first makes the sample independent of file row order, so a baseline and an adapted model
    evaluated with the same seed see exactly the same people (required for paired comparison).
    """
    ordered = sorted(respondents, key=lambda r: r.id)
    if n >= len(ordered):
        return ordered
    rng = np.random.default_rng(seed)
    picked = np.sort(rng.choice(len(ordered), size=n, replace=False))
    return [ordered[i] for i in picked]
