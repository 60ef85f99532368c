"""Derive the bundled per-country WVS answer-frequency tables from the reference data.

`scripts/build_wvs_tables.py` writes `clca/data/wvs/human_distributions.json` with `derive_tables()`; a test runs
it again on the reference data and requires the bundled file to match exactly. Only frequencies are shipped (the
WVS terms allow derived figures with attribution), never respondent-level rows.

Sources (all unweighted shares of valid answers; negative codes are missing values, reported separately):
- social-values (Q1-Q41, Q43-Q45):
  1. `wvs_found/aggregates/q1_q45_frequencies_from_microdata_58countries.csv` — counts per code from the official
     microdata, 58 societies incl. DEU, JPN, MEX (exact n and missing shares);
  2. `wvs_found/aggregates/cao2025_SimLLMCultureDist/cao2025_wvs7_country_distributions_tidy.csv` — percentages
     rounded to 2 decimals, no n, for the societies the microdata aggregate lacks (GBR = Great Britain 2022,
     CHN, USA, CAN, NLD, HKG, IDN). Shares are pct/100 as published, renormalised to sum to 1.
- q50: `wvs_wave7_q50/responses/{ISO3}.csv` respondent files of 8 countries (counts, n, missing shares, and
  questions that are entirely code -4 marked `not_asked`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from clca.errors import InputDataError
from clca.evaluation.questions import load_question_bank
from clca.evaluation.survey import distribution_from_codes, read_wvs_csv

TABLES_FORMAT_VERSION = 1
ATTRIBUTION = (
    "Derived from World Values Survey wave 7 data: Haerpfer, C., Inglehart, R., Moreno, A., Welzel, C., "
    "Kizilova, K., Diez-Medrano J., M. Lagos, P. Norris, E. Ponarin & B. Puranen (eds.). 2022. World Values "
    "Survey: Round Seven - Country-Pooled Datafile Version 5.0. Madrid, Spain & Vienna, Austria: JD Systems "
    "Institute & WVSA Secretariat. doi.org/10.14281/18241.20. Non-profit use only, under the WVS terms of use. "
    "Frequencies for GBR/CHN/USA/CAN/NLD/HKG/IDN via Cao et al. (NAACL 2025, SimLLMCultureDist)."
)

MICRODATA_AGGREGATE = "wvs_found/aggregates/q1_q45_frequencies_from_microdata_58countries.csv"
CAO_TIDY = "wvs_found/aggregates/cao2025_SimLLMCultureDist/cao2025_wvs7_country_distributions_tidy.csv"
Q50_RESPONSES = "wvs_wave7_q50/responses"


def _entry(dist: Any) -> dict[str, Any]:
    data = dist.model_dump(mode="json", exclude={"country", "question"})
    data["missing_shares"] = {str(k): v for k, v in dist.missing_shares.items()}
    return data


def _social_values_from_microdata(shared: Path, questions: list) -> dict[str, dict[str, Any]]:
    path = shared / MICRODATA_AGGREGATE
    table = pd.read_csv(path)
    out: dict[str, dict[str, Any]] = {}
    wanted = {q.id: q for q in questions}
    for (iso3, qid), rows in table[table.qid.isin(list(wanted))].groupby(["iso3", "qid"], sort=True):
        # Expand counts back into codes so the very same routine as for respondent files computes shares.
        codes = [code for code, n in zip(rows.code, rows.n, strict=True) for _ in range(int(n))]
        dist = distribution_from_codes(iso3, wanted[qid], codes, source="microdata58")
        if dist.n_total != int(rows.n_total.iloc[0]):
            raise InputDataError(f"{path}: {iso3} {qid}: counts do not add up to n_total")
        out.setdefault(iso3, {})[qid] = _entry(dist)
    return out


def _social_values_from_cao(shared: Path, questions: list, skip: set[str]) -> dict[str, dict[str, Any]]:
    path = shared / CAO_TIDY
    table = pd.read_csv(path)
    wanted = {q.id: q for q in questions}
    table = table[table.qid.isin(list(wanted)) & ~table.iso3.isin(list(skip))]
    out: dict[str, dict[str, Any]] = {}
    for (iso3, qid), rows in table.groupby(["iso3", "qid"], sort=True):
        question = wanted[qid]
        pct = dict(zip(rows.code.astype(int), rows.pct.astype(float), strict=True))
        unknown = set(pct) - set(question.codes)
        if unknown:
            raise InputDataError(f"{path}: {iso3} {qid}: codes {sorted(unknown)} are not options of {qid}")
        raw = [pct.get(code, 0.0) / 100.0 for code in question.codes]
        total = sum(raw)
        out.setdefault(iso3, {})[qid] = {
            "codes": question.codes,
            "shares": [x / total for x in raw],
            "n_valid": None,
            "n_total": None,
            "missing_shares": {},
            "not_asked": False,
            "source": "cao2025",
        }
    return out


def _q50_from_responses(shared: Path, questions: list) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for path in sorted((shared / Q50_RESPONSES).glob("*.csv")):
        iso3 = path.stem
        respondents = read_wvs_csv(path, [q.id for q in questions], demographics=False)
        source = f"q50/{path.name}"
        out[iso3] = {
            q.id: _entry(distribution_from_codes(iso3, q, (r.answers[q.id] for r in respondents), source))
            for q in questions
        }
    return out


def derive_tables(shared: Path) -> dict[str, Any]:
    """Build the bundled tables document from the reference data folder (passed by scripts/build_wvs_tables.py)."""
    bank = load_question_bank()
    social = bank.select("social-values")
    social_tables = _social_values_from_microdata(shared, social)
    social_tables.update(_social_values_from_cao(shared, social, skip=set(social_tables)))
    q50 = bank.select("q50")
    return {
        "format_version": TABLES_FORMAT_VERSION,
        "attribution": ATTRIBUTION,
        "sources": {
            "microdata58": MICRODATA_AGGREGATE,
            "cao2025": CAO_TIDY,
            "q50/<ISO3>.csv": f"{Q50_RESPONSES}/<ISO3>.csv",
        },
        "weighting": "unweighted shares of valid (non-negative) codes; missing_shares are shares of all respondents",
        "tables": {
            "social-values": {iso: social_tables[iso] for iso in sorted(social_tables)},
            "q50": _q50_from_responses(shared, q50),
        },
    }


def serialise_tables(document: dict[str, Any]) -> str:
    """The exact bytes of the bundled file: compact, one question entry per line, so diffs stay readable."""
    lines = ["{"]
    header = {k: v for k, v in document.items() if k != "tables"}
    for key, value in header.items():
        lines.append(f"{json.dumps(key)}: {json.dumps(value, ensure_ascii=False)},")
    lines.append('"tables": {')
    table_items = list(document["tables"].items())
    for ti, (name, countries) in enumerate(table_items):
        lines.append(f"{json.dumps(name)}: {{")
        country_items = list(countries.items())
        for ci, (iso, entries) in enumerate(country_items):
            lines.append(f"{json.dumps(iso)}: {{")
            entry_items = list(entries.items())
            for ei, (qid, entry) in enumerate(entry_items):
                comma = "," if ei < len(entry_items) - 1 else ""
                lines.append(f"{json.dumps(qid)}: {json.dumps(entry, separators=(',', ':'))}{comma}")
            lines.append("}," if ci < len(country_items) - 1 else "}")
        lines.append("}," if ti < len(table_items) - 1 else "}")
    lines.append("}}")
    return "\n".join(lines) + "\n"
