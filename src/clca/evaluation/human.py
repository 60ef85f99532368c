"""Where the human side of an evaluation comes from: real respondents (with or without demographics) or the
bundled per-country frequency tables.

The package reads respondent data only from what the user names. Resolution order for a culture (recorded in the
run manifest as `human_source`, and in `HumanData.resolved_by`):
1. `wvs_file` given by the user (`--wvs-file` or the `wvs_file` config key; official WVS wave 7 CSV,
   cross-national or per-country) → real respondents, with demographics when the file has them;
2. the environment variable `CLCA_WVS_FILE` (one such file);
3. files registered with `clca data add-wvs` that hold the culture and every requested question
   (`clca.evaluation.registry`; the most recently registered wins);
4. the bundled tables (`clca/data/wvs/human_distributions.json`) → no respondents: country-only personas.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from clca.errors import InputDataError
from clca.evaluation.questions import Question
from clca.evaluation.registry import find_registered_file
from clca.evaluation.survey import Respondent, SurveyDistribution, distributions_from_respondents, read_wvs_csv
from clca.paths import PACKAGE_DATA_DIR

BUNDLED_TABLES_PATH = PACKAGE_DATA_DIR / "wvs" / "human_distributions.json"
WVS_FILE_ENV = "CLCA_WVS_FILE"


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
    resolved_by: Literal["wvs_file", "env", "registry", "bundled"] = "wvs_file"


def resolve_wvs_file(country: str, qids: list[str], wvs_file: Path | None = None
                     ) -> tuple[Path | None, Literal["wvs_file", "env", "registry", "bundled"]]:
    """The respondent file the user named for `country` (steps 1-3 of the module doc), or (None, "bundled")."""
    if wvs_file is not None:
        return Path(wvs_file), "wvs_file"
    env = os.environ.get(WVS_FILE_ENV, "").strip()
    if env:
        path = Path(env).expanduser()
        if not path.is_file():
            raise InputDataError(f"{path}: file named by {WVS_FILE_ENV} not found — fix or unset {WVS_FILE_ENV}")
        return path, "env"
    registered = find_registered_file(country, qids)
    return (registered, "registry") if registered is not None else (None, "bundled")


def load_human_data(country: str, questions: list[Question], wvs_file: Path | None = None) -> HumanData:
    """The survey side for `country`: respondents from the file the user named, else the bundled tables.

    Args:
        country: ISO3 code.
        questions: the questions to score.
        wvs_file: explicit respondent file (`--wvs-file` / config); else `CLCA_WVS_FILE`, then registered files.

    Returns:
        HumanData with `resolved_by` saying which step supplied it.
    """
    qids = [q.id for q in questions]
    path, resolved_by = resolve_wvs_file(country, qids, wvs_file)
    if path is not None:
        respondents = read_wvs_csv(path, qids, demographics=True, country=country)
        if not respondents:
            raise InputDataError(f"{path}: no respondents with B_COUNTRY_ALPHA = {country} — pick another --culture")
        has_demographics = any(r.demographics for r in respondents)
        distributions = distributions_from_respondents(respondents, questions, country, str(path))
        # every answer a WVS missing code (-1 … -5): nothing to compare the model with
        if not any(d.n_valid for d in distributions.values()):
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
            resolved_by=resolved_by,
        )
    distributions = bundled_distributions(country, questions)
    if not distributions:
        raise InputDataError(
            f"no WVS data for {country} in the bundled tables for these questions — pass --wvs-file with the "
            "official WVS wave 7 CSV (or register it once with `clca data add-wvs FILE`)"
        )
    return HumanData(country=country, source=str(BUNDLED_TABLES_PATH.name), kind="bundled-table",
                     distributions=distributions, resolved_by="bundled")
