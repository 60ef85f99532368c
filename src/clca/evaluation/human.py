"""Where the human side of an evaluation comes from: real respondents (with or without demographics) or the
bundled per-country frequency tables.

Resolution order for a culture (recorded in the run manifest as `human_source`):
1. `wvs_file` given by the user (official WVS wave 7 CSV, cross-national or per-country) → real respondents with
   demographics;
2. the reference microdata beside the checkout (`wvs_found/microdata/dataspi_spy-playground_v5.0/{ISO3}.csv`,
   DEU/JPN/MEX; development only, never shipped);
3. the bundled tables (`clca/data/wvs/human_distributions.json`) → no respondents: country-only personas.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from clca.errors import InputDataError
from clca.evaluation.questions import Question
from clca.evaluation.survey import Respondent, SurveyDistribution, distributions_from_respondents, read_wvs_csv
from clca.paths import PACKAGE_DATA_DIR, shared_data_dir

BUNDLED_TABLES_PATH = PACKAGE_DATA_DIR / "wvs" / "human_distributions.json"
REFERENCE_MICRODATA = "wvs_found/microdata/dataspi_spy-playground_v5.0"


@lru_cache(maxsize=1)
def load_bundled_tables() -> dict[str, Any]:
    return json.loads(BUNDLED_TABLES_PATH.read_text(encoding="utf-8"))


def bundled_distributions(country: str, questions: list[Question]) -> dict[str, SurveyDistribution]:
    """Distributions from the bundled tables; questions without data for `country` are left out."""
    tables = load_bundled_tables()["tables"]
    out = {}
    for q in questions:
        for table in ("social-values", "q50"):  # social-values first: it has all 44 for more countries
            entry = tables[table].get(country, {}).get(q.id)
            if entry is not None:
                entry = dict(entry, missing_shares={int(k): v for k, v in entry["missing_shares"].items()})
                out[q.id] = SurveyDistribution(country=country, question=q.id, **entry)
                break
    return out


def bundled_countries() -> dict[str, list[str]]:
    return {name: sorted(t) for name, t in load_bundled_tables()["tables"].items()}


class HumanData(BaseModel):
    """The survey side of one evaluation: distributions and (when available) the respondent pool."""

    model_config = ConfigDict(extra="forbid")
    country: str
    source: str  # file path / table name, for the manifest
    kind: Literal["respondents", "respondents-no-demographics", "bundled-table"]
    distributions: dict[str, SurveyDistribution]
    respondents: list[Respondent] = Field(default_factory=list)


def load_human_data(country: str, questions: list[Question], wvs_file: Path | None = None) -> HumanData:
    qids = [q.id for q in questions]
    path: Path | None = Path(wvs_file) if wvs_file is not None else None
    if path is None:
        shared = shared_data_dir()
        candidate = shared / REFERENCE_MICRODATA / f"{country}.csv" if shared else None
        if candidate is not None and candidate.is_file():
            path = candidate
    if path is not None:
        respondents = read_wvs_csv(path, qids, demographics=True, country=country)
        if not respondents:
            raise InputDataError(f"{path}: no respondents with B_COUNTRY_ALPHA = {country} — pick another --culture")
        has_demographics = any(r.demographics for r in respondents)
        distributions = distributions_from_respondents(respondents, questions, country, str(path))
        if not any(d.n_valid for d in distributions.values()):  # every answer a WVS missing code (-1 … -5): nothing to compare the model with
            raise InputDataError(
                f"{path}: no valid answers for {country} to any of {', '.join(qids)} (all WVS missing codes) — "
                "choose other questions or another --culture"
            )
        return HumanData(
            country=country,
            source=str(path),
            kind="respondents" if has_demographics else "respondents-no-demographics",
            distributions=distributions,
            respondents=respondents,
        )
    distributions = bundled_distributions(country, questions)
    if not distributions:
        raise InputDataError(
            f"no WVS data for {country} in the bundled tables for these questions — pass --wvs-file with the "
            "official WVS wave 7 CSV"
        )
    return HumanData(country=country, source=str(BUNDLED_TABLES_PATH.name), kind="bundled-table",
                     distributions=distributions)
