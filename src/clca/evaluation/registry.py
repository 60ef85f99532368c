"""Respondent files the user registered with `clca data add-wvs`: validated once, recorded, never copied.

The registry is one JSON document, `<user data dir>/wvs_files.json` (`CLCA_DATA_DIR` overrides the folder; see
`clca.paths.user_data_dir`). Each entry records the file's absolute path, sha256, size and modification time, the
countries it holds (respondents per country) and, per country, the bank questions with at least one valid answer.
`load_human_data` consults it when no file is named (`--wvs-file`, the `wvs_file` key, `CLCA_WVS_FILE`): a file
changed since it was registered is an error (register it again), never read silently.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from clca.errors import InputDataError
from clca.evaluation.questions import load_question_bank
from clca.evaluation.survey import distributions_from_respondents, read_wvs_csv
from clca.jsonl import write_json_atomic
from clca.paths import user_data_dir
from clca.records import utc_now

REGISTRY_NAME = "wvs_files.json"


class RegisteredFile(BaseModel):
    """One registered WVS wave 7 respondent file."""

    model_config = ConfigDict(extra="forbid")
    path: str
    sha256: str
    size: int
    mtime_ns: int
    added_at: str
    has_demographics: bool
    respondents: dict[str, int]  # ISO3 -> respondents in the file
    questions: dict[str, list[str]]  # ISO3 -> bank question ids with at least one valid answer

    def covers(self, country: str, qids: list[str]) -> bool:
        return set(qids) <= set(self.questions.get(country, []))


class Registry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int = 1
    files: list[RegisteredFile] = []


def registry_path() -> Path:
    return user_data_dir() / REGISTRY_NAME


def load_registry() -> Registry:
    """The registry, empty when nothing was registered."""
    path = registry_path()
    if not path.is_file():
        return Registry()
    try:
        return Registry.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, ValidationError):
        raise InputDataError(f"{path}: the data registry is corrupt — delete it and run `clca data add-wvs` "
                             "again") from None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _header(path: Path) -> list[str]:
    with open(path, encoding="utf-8-sig", errors="replace") as fh:
        line = fh.readline()
    sep = max((";", ",", "\t"), key=line.count)
    return [c.strip().strip('"').strip() for c in line.rstrip("\r\n").split(sep)]


def add_wvs_file(path: str | Path) -> RegisteredFile:
    """Validate a WVS wave 7 CSV and record it (re-adding a path replaces its entry).

    Args:
        path: the file; it stays where it is.

    Returns:
        The recorded entry.

    Raises:
        InputDataError: the file is missing, unreadable, holds no bank question or has codes outside a scale.
    """
    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise InputDataError(f"{path}: WVS file not found — check the path")
    bank = load_question_bank()
    available = [qid for qid in _header(path) if qid in bank.questions]
    if not available:
        raise InputDataError(f"{path}: no WVS wave 7 question columns (Q1 … Q290) in the header — is this the "
                             "official WVS wave 7 CSV?")
    qids = sorted(set(available), key=lambda q: int(q[1:]))
    respondents = read_wvs_csv(path, qids, demographics=True)
    if not respondents:
        raise InputDataError(f"{path}: no respondent rows — the file is empty")
    by_country: dict[str, list] = {}
    for r in respondents:
        by_country.setdefault(r.country, []).append(r)
    questions = [bank.get(q) for q in qids]
    covered = {}
    for country, rows in sorted(by_country.items()):
        dists = distributions_from_respondents(rows, questions, country, str(path))  # rejects foreign codes
        covered[country] = [q for q in qids if dists[q].n_valid]
    stat = path.stat()
    entry = RegisteredFile(
        path=str(path), sha256=_sha256(path), size=stat.st_size, mtime_ns=stat.st_mtime_ns, added_at=utc_now(),
        has_demographics=any(r.demographics for r in respondents),
        respondents={c: len(rows) for c, rows in sorted(by_country.items())}, questions=covered,
    )
    registry = load_registry()
    registry.files = [f for f in registry.files if f.path != entry.path] + [entry]
    write_json_atomic(registry_path(), registry.model_dump(mode="json"))
    return entry


def remove_wvs_file(path: str | Path) -> RegisteredFile:
    """Forget a registered file (the file itself is untouched)."""
    registry = load_registry()
    wanted = {str(Path(path).expanduser()), str(Path(path).expanduser().resolve())}
    kept = [f for f in registry.files if f.path not in wanted]
    removed = [f for f in registry.files if f.path in wanted]
    if not removed:
        known = ", ".join(f.path for f in registry.files) or "none"
        raise InputDataError(f"{path}: not a registered WVS file (registered: {known})")
    registry.files = kept
    write_json_atomic(registry_path(), registry.model_dump(mode="json"))
    return removed[0]


def find_registered_file(country: str, qids: list[str]) -> Path | None:
    """The most recently registered file holding `country` with answers to every one of `qids`, if any.

    Raises:
        InputDataError: files hold `country` but none has all of `qids`, or the chosen file changed on disk.
    """
    files = load_registry().files
    holding = [f for f in files if country in f.respondents]
    covering = [f for f in holding if f.covers(country, qids)]
    if not covering:
        if holding:
            missing = sorted(set(qids) - set(holding[-1].questions.get(country, [])), key=lambda q: int(q[1:]))
            raise InputDataError(
                f"{holding[-1].path}: the registered file has no {country} answers to {', '.join(missing)} — "
                "register a file with them (`clca data add-wvs`), pass --wvs-file, or choose other questions"
            )
        return None
    entry = covering[-1]
    path = Path(entry.path)
    if not path.is_file():
        raise InputDataError(f"{path}: registered WVS file is gone — `clca data remove {path}` or restore it")
    stat = path.stat()
    if (stat.st_size, stat.st_mtime_ns) != (entry.size, entry.mtime_ns) and _sha256(path) != entry.sha256:
        raise InputDataError(f"{path}: changed since it was registered — run `clca data add-wvs {path}` again")
    return path
