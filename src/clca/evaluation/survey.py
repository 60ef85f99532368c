"""Human WVS answers: respondent-level files, answer distributions, and seeded respondent sampling.

Readers accept the layouts WVS data comes in:
- the official per-country "Csv" download (`;`-separated, UTF-8 with BOM, quoted header);
- the official cross-national CSV (`,`-separated; pandas exports of it may carry an unnamed index column first);
- the q50 reference files (`B_COUNTRY, B_COUNTRY_ALPHA, Q27 …`) whose trailing `Avg…` summary rows are dropped.
Codes stay raw: any negative code is a WVS missing value (-1 don't know, -2 no answer, -3 not applicable,
-4 not asked, -5 missing) — never an answer option — while 0 is a valid code for some questions (Q122-Q129).
"""

from __future__ import annotations

import csv
import re
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
    weight: float = 1.0  # WVS `W_WEIGHT` when the file has it; used only with `weights: wvs`


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


WEIGHT_COLUMN = "W_WEIGHT"
BLANK_CODE = -5  # a blank cell in an answer or demographic column is a WVS "missing" answer
MIN_CODE = -5  # WVS missing values are -1 … -5; anything lower is not a WVS code
# Largest integer a float64 holds exactly; bigger "codes" (e.g. 99999999999999999999999) are corrupt data.
MAX_CODE = 2**53
WEIGHT_MODES = ("none", "wvs")
# ISO 3166-1 numeric codes that WVS stores in B_COUNTRY, for the societies in clca.countries (Northern
# Ireland has a WVS-specific code and is left out: only its one-to-one consistency within a file is checked).
ISO_NUMERIC = {
    "AND": 20, "ARG": 32, "ARM": 51, "AUS": 36, "BGD": 50, "BOL": 68, "BRA": 76, "CAN": 124, "CHL": 152,
    "CHN": 156, "COL": 170, "CYP": 196, "CZE": 203, "DEU": 276, "ECU": 218, "EGY": 818, "ETH": 231, "GBR": 826,
    "GRC": 300, "GTM": 320, "HKG": 344, "IDN": 360, "IND": 356, "IRN": 364, "IRQ": 368, "JOR": 400, "JPN": 392,
    "KAZ": 398, "KEN": 404, "KGZ": 417, "KOR": 410, "LBN": 422, "LBY": 434, "MAC": 446, "MAR": 504, "MDV": 462,
    "MEX": 484, "MMR": 104, "MNG": 496, "MYS": 458, "NGA": 566, "NIC": 558, "NLD": 528, "NZL": 554, "PAK": 586,
    "PER": 604, "PHL": 608, "PRI": 630, "ROU": 642, "RUS": 643, "SGP": 702, "SRB": 688, "SVK": 703, "THA": 764,
    "TJK": 762, "TUN": 788, "TUR": 792, "TWN": 158, "UKR": 804, "URY": 858, "USA": 840, "VEN": 862, "VNM": 704,
    "ZWE": 716,
}
# "Q260 Sex", "Q1 Important in life: Family", "Q1: Family" → the variable name before the codebook label.
_VARIABLE = re.compile(r"^([A-Za-z][A-Za-z0-9_]*)(?=$|[\s:.\-])")


def _sniff_separator(path: Path) -> str:
    with open(path, encoding="utf-8-sig", errors="replace") as fh:
        header = fh.readline()
    return max((";", ",", "\t"), key=header.count)


def _header(path: Path, sep: str) -> list[str]:
    with open(path, encoding="utf-8-sig", errors="replace", newline="") as fh:
        return next(csv.reader(fh, delimiter=sep), [])


def variable_name(header_cell: str) -> str:
    """WVS variable a header cell names: strips spaces, quotes and a trailing codebook label ("Q260 Sex")."""
    cell = header_cell.strip().strip('"').strip()
    match = _VARIABLE.match(cell)
    return match.group(1) if match else cell


def _wanted_positions(path: Path, header: list[str], wanted: set[str]) -> dict[int, str]:
    """Column position -> variable for the wanted variables; one error line for a duplicated variable."""
    positions: dict[int, str] = {}
    seen: dict[str, int] = {}
    for i, cell in enumerate(header):
        name = variable_name(cell)
        if name not in wanted:
            continue
        if name in seen:
            raise InputDataError(
                f"{path}: header columns {seen[name] + 1} ({header[seen[name]]!r}) and {i + 1} ({cell!r}) both hold "
                f"{name} — keep one of them"
            )
        seen[name] = i
        positions[i] = name
    return positions


def _check_not_truncated(path: Path, sep: str, n_header: int, n_rows: int) -> None:
    with open(path, "rb") as fh:
        fh.seek(max(0, fh.seek(0, 2) - 65536))
        tail = fh.read().decode("utf-8", errors="replace").splitlines()
    last = next((line for line in reversed(tail) if line.strip()), "")
    fields = next(csv.reader([last], delimiter=sep), [])
    if n_rows and len(fields) < n_header:
        raise InputDataError(
            f"{path}: line {n_rows + 1} has {len(fields)} of the header's {n_header} fields — the file looks "
            "truncated; download it again"
        )


def _parse_codes(path: Path, frame: pd.DataFrame, column: str, blank: int | None) -> np.ndarray:
    """Integer codes of one column; blank cells become `blank` (None: a blank is an error)."""
    text = frame[column].str.strip()
    is_blank = text == ""
    values = pd.to_numeric(text.where(~is_blank, "0"), errors="coerce").to_numpy(dtype=np.float64)
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(values) | (values != np.round(values)) | (np.abs(values) > MAX_CODE) | (values < MIN_CODE)
    if blank is None:
        bad |= is_blank.to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raw = text.iloc[row]
        what = "empty" if raw == "" else (
            f"out-of-range code {raw!r} (WVS codes are integers ≥ {MIN_CODE}; negatives are missing values)"
            if np.isfinite(values[row]) and values[row] == np.round(values[row]) else f"not an integer code ({raw!r})")
        raise InputDataError(f"{path}: line {_line(frame, row)}, column {column!r}: {what} — fix or remove that "
                             "row, or download the file again")
    codes = values.astype(np.int64)
    if blank is not None:
        codes[is_blank.to_numpy()] = blank
    return codes


def _line(frame: pd.DataFrame, row: int) -> int:
    return int(frame.index[row]) + 2  # header is line 1


def _parse_weights(path: Path, frame: pd.DataFrame) -> np.ndarray:
    text = frame[WEIGHT_COLUMN].str.strip()
    values = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64)
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputDataError(f"{path}: line {_line(frame, row)}, column {WEIGHT_COLUMN!r}: {text.iloc[row]!r} is not "
                             "a survey weight (finite, ≥ 0) — fix the row or drop the column and use weights: none")
    return values


def _check_countries(path: Path, frame: pd.DataFrame, numeric: np.ndarray | None, alpha: np.ndarray) -> None:
    """B_COUNTRY (ISO numeric) and B_COUNTRY_ALPHA must name the same country on every row."""
    blank = np.flatnonzero(alpha == "")
    if blank.size:
        raise InputDataError(f"{path}: line {_line(frame, int(blank[0]))}, column 'B_COUNTRY_ALPHA' is empty — every "
                             "respondent needs a country code")
    if numeric is None:
        return
    pairs: dict[str, int] = {}
    for row, (code, iso3) in enumerate(zip(numeric.tolist(), alpha.tolist(), strict=True)):
        if code < 0:
            continue
        expected = ISO_NUMERIC.get(iso3, pairs.setdefault(iso3, code))
        if code != expected:
            raise InputDataError(
                f"{path}: line {_line(frame, row)}: B_COUNTRY {code} and B_COUNTRY_ALPHA {iso3!r} name different "
                f"countries ({iso3} is {expected}) — the file is corrupt or its columns are shifted"
            )


def read_wvs_csv(
    path: str | Path, questions: Sequence[str], demographics: bool = True, country: str | None = None
) -> list[Respondent]:
    """Read respondents from a WVS CSV; `questions` (ids such as `Q27`) must all be columns of the file.

    Separators `;`, `,` or tab; header cells may carry codebook labels after the variable ("Q260 Sex").
    A blank cell in an answer or demographic column is a missing answer (code -5); blanks elsewhere are errors
    only in the identifying columns the reader uses. Demographic columns are read when present (files without
    them give country-only personas), and so is the survey weight `W_WEIGHT` (`Respondent.weight`, 1.0 without
    the column; weighting is applied only when asked: the default `weights: none` matches the paper).
    `country` keeps only that ISO3 country's rows (cross-national files).

    Raises:
        InputDataError: one line naming the file, line/column and the fix.
    """
    path = Path(path)
    if not path.is_file():
        raise InputDataError(f"{path}: WVS file not found — check the path")
    wanted = set(questions) | {"B_COUNTRY", "B_COUNTRY_ALPHA", "D_INTERVIEW", WEIGHT_COLUMN}
    if demographics:
        wanted |= set(DEMOGRAPHIC_COLUMNS)
    sep = _sniff_separator(path)
    header = _header(path, sep)
    positions = _wanted_positions(path, header, wanted)
    for column in ["B_COUNTRY_ALPHA", *questions]:
        if column not in positions.values():
            raise InputDataError(
                f"{path}: column {column!r} is missing (read {len(header)} header columns separated by {sep!r}) — "
                "use a WVS wave 7 file that contains it"
            )
    try:
        frame = pd.read_csv(path, sep=sep, encoding="utf-8-sig", dtype=str, usecols=sorted(positions),
                            keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise InputDataError(f"{path}: cannot parse as a WVS CSV ({str(exc).splitlines()[0]})") from None
    frame.columns = [positions[i] for i in sorted(positions)]
    _check_not_truncated(path, sep, len(header), len(frame))
    # Summary rows (`Avg`, `Avg_First`, `Avg_Last`) at the end of the q50 reference files are not respondents.
    if "B_COUNTRY" in frame:
        frame = frame[~frame["B_COUNTRY"].str.strip().str.startswith("Avg")]
    alpha = frame["B_COUNTRY_ALPHA"].str.strip().to_numpy()
    numeric = _parse_codes(path, frame, "B_COUNTRY", blank=-1) if "B_COUNTRY" in frame else None
    _check_countries(path, frame, numeric, alpha)
    if country is not None:
        frame = frame[alpha == country]
    return _respondents(path, frame, questions, demographics)


def _respondents(path: Path, frame: pd.DataFrame, questions: Sequence[str], demographics: bool) -> list[Respondent]:
    answer_columns = [*questions, *([c for c in DEMOGRAPHIC_COLUMNS if c in frame] if demographics else [])]
    codes = {c: _parse_codes(path, frame, c, blank=BLANK_CODE) for c in answer_columns}
    interview = _parse_codes(path, frame, "D_INTERVIEW", blank=None) if "D_INTERVIEW" in frame else None
    weights = _parse_weights(path, frame) if WEIGHT_COLUMN in frame else np.ones(len(frame))
    alpha = frame["B_COUNTRY_ALPHA"].str.strip().to_numpy()
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
                weight=float(weights[i]),
            )
        )
    ids = [r.id for r in respondents]
    if len(set(ids)) != len(ids):
        raise InputDataError(f"{path}: column 'D_INTERVIEW' has duplicate respondent ids — the file is corrupt")
    return respondents


def distribution_from_codes(
    country: str, question: Question, raw_codes: Iterable[int], source: str,
    weights: Sequence[float] | np.ndarray | None = None,
) -> SurveyDistribution:
    """Distribution of valid codes; negative codes are reported as missing shares.

    Args:
        country: ISO3 code.
        question: the question (its `codes` are the valid options).
        raw_codes: one raw code per respondent.
        source: where the codes come from (for messages and the record).
        weights: optional survey weight per respondent (WVS `W_WEIGHT`): shares and missing shares become
            weighted; `n_valid`/`n_total` stay head counts. None (the default, as in the paper) = unweighted.

    Returns:
        The distribution over `question.codes`.
    """
    values = np.asarray(list(raw_codes), dtype=np.int64)
    w = np.ones(values.size) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != values.shape or not np.all(np.isfinite(w)) or np.any(w < 0):
        raise InputDataError(f"{source}: {country} {question.id}: need one finite, non-negative weight per respondent")
    n_total = int(values.size)
    valid = values[values >= 0]
    unknown = sorted(set(valid.tolist()) - set(question.codes))
    if unknown:
        raise InputDataError(
            f"{source}: {country} {question.id} has codes {unknown} that are not options of {question.id} "
            f"({question.codes}) — wrong file or column"
        )
    mass = [float(w[values == code].sum()) for code in question.codes]
    valid_mass, total_mass = float(sum(mass)), float(w.sum())
    missing = {int(c): float(w[values == c].sum()) / total_mass for c in sorted(set(values[values < 0].tolist()))}
    not_asked = n_total > 0 and bool((values == NOT_ASKED).all())
    shares = [m / valid_mass for m in mass] if valid_mass > 0 else [0.0] * len(mass)
    return SurveyDistribution(
        country=country, question=question.id, codes=question.codes, shares=shares, n_valid=int(valid.size),
        n_total=n_total, missing_shares=missing, not_asked=not_asked, source=source,
    )


def respondent_weights(respondents: Sequence[Respondent], weights: str = "none") -> np.ndarray | None:
    """Per-respondent weights for `weights` = "none" (None: everyone counts once, the paper's choice) or "wvs"."""
    if weights not in WEIGHT_MODES:
        raise InputDataError(f"weights: {weights!r} is not one of {', '.join(WEIGHT_MODES)}")
    if weights == "none":
        return None
    values = np.array([r.weight for r in respondents], dtype=np.float64)
    if values.size and values.sum() <= 0:
        raise InputDataError("weights: wvs — every respondent's W_WEIGHT is 0; use weights: none")
    return values


def distributions_from_respondents(
    respondents: Sequence[Respondent], questions: Sequence[Question], country: str, source: str,
    weights: str = "none",
) -> dict[str, SurveyDistribution]:
    """Per question distribution of the respondents' answers; `weights` "none" (default, unweighted) or "wvs"."""
    w = respondent_weights(respondents, weights)
    return {
        q.id: distribution_from_codes(country, q, (r.answers[q.id] for r in respondents), source, w)
        for q in questions
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


# --------------------------------------------------------------------------- 3-point variants of the agree battery

# Some societies fielded part of the agree/disagree battery (Q33-Q41) on a 3-point scale, stored as codes 2/3/4 of
# the 5-point variable (the codebook's Q33_3 … variables): Q33-Q35 in USA and NGA, Q33-Q41 in ARG and BRA.
AGREE5_OPTIONS = {1: "Agree strongly", 2: "Agree", 3: "Neither agree nor disagree", 4: "Disagree",
                  5: "Disagree strongly"}
AGREE3_OPTIONS = {2: "Agree", 3: "Neither agree nor disagree", 4: "Disagree"}
# A genuine 5-point item with no answer at either end is implausible in 100 answers: the smallest end share of any
# other country's bundled agree item is 5.7% (KOR Q41), and 0.943^100 ≈ 0.3%.
MIN_N_SCALE_VARIANT = 100


def detect_scale_variant(question: Question, distribution: SurveyDistribution) -> Question | None:
    """The 3-point variant of a 5-point agree item when the data show it was fielded on 3 points, else None.

    Rule: the question uses the 5-point agree scale (`AGREE5_OPTIONS`), was asked, its valid answers give codes 1
    and 5 exactly zero share and codes 2, 3 and 4 each a positive share, and it has at least
    `MIN_N_SCALE_VARIANT` valid answers (a published table without counts, `n_valid` None, comes from a national
    sample and is accepted). On the bundled tables this flags exactly Q33-Q35 in USA and NGA and Q33-Q41 in ARG
    and BRA.

    Args:
        question: the bank's question.
        distribution: the survey distribution of that question in one country.

    Returns:
        A copy of `question` with options `AGREE3_OPTIONS` (codes 2, 3, 4) to ask and score, or None.
    """
    if question.options != AGREE5_OPTIONS or distribution.not_asked or distribution.codes != question.codes:
        return None
    shares = dict(zip(distribution.codes, distribution.shares, strict=True))
    if shares[1] != 0.0 or shares[5] != 0.0 or not all(shares[c] > 0.0 for c in (2, 3, 4)):
        return None
    if distribution.n_valid is not None and distribution.n_valid < MIN_N_SCALE_VARIANT:
        return None
    return question.model_copy(update={"options": dict(AGREE3_OPTIONS)})


def fold_to_variant(distribution: SurveyDistribution, variant: Question) -> SurveyDistribution:
    """The distribution restricted to the variant's codes (shares renormalised over them)."""
    shares = dict(zip(distribution.codes, distribution.shares, strict=True))
    kept = [shares.get(code, 0.0) for code in variant.codes]
    total = sum(kept)
    return distribution.model_copy(update={"codes": variant.codes,
                                           "shares": [s / total for s in kept] if total > 0 else kept})


def scale_variants(questions: Sequence[Question], distributions: dict[str, SurveyDistribution]) -> dict[str, Question]:
    """question id -> its 3-point variant, for every question whose distribution shows one (see above)."""
    out = {}
    for q in questions:
        if q.id in distributions and (variant := detect_scale_variant(q, distributions[q.id])) is not None:
            out[q.id] = variant
    return out
