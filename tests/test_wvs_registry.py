"""Respondent data stands alone: only what the user names is read (`--wvs-file`, CLCA_WVS_FILE, `clca data`)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from clca.errors import InputDataError
from clca.evaluation.config import EvalConfig
from clca.evaluation.human import load_human_data
from clca.evaluation.questions import load_question_bank
from clca.evaluation.runner import run_evaluation

SRC = Path(__file__).resolve().parents[1] / "src"
HEADER = "B_COUNTRY,B_COUNTRY_ALPHA,D_INTERVIEW,Q1,Q27,Q260,X003R\n"
# DEU: Q1 = 1,1,1,2,-1 (4 valid: 3/4 very important), Q27 = 1,2,2,3,4; FRA: 3 respondents
ROWS = ["276,DEU,1001,1,1,1,2", "276,DEU,1002,1,2,2,3", "276,DEU,1003,1,2,1,4", "276,DEU,1004,2,3,2,5",
        "276,DEU,1005,-1,4,1,6", "250,FRA,2001,2,1,1,2", "250,FRA,2002,3,2,2,3", "250,FRA,2003,1,4,1,4"]


def _write_wvs(path: Path, rows: list[str] = ROWS, header: str = HEADER) -> Path:
    path.write_text(header + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def _clca(*args: str, data_dir: Path, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "CLCA_WVS_FILE"}
    env |= {"CLCA_DATA_DIR": str(data_dir), "CLCA_PROGRESS": "0", "PYTHONPATH": str(SRC)}
    return subprocess.run([sys.executable, "-m", "clca.cli.main", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


def _clca_here(monkeypatch, capsys, *args: str) -> subprocess.CompletedProcess:
    """The `clca` entry point in this process (the subprocess start-up costs seconds on a loaded CI machine)."""
    from clca.cli import main as cli_main

    monkeypatch.setattr(sys, "argv", ["clca", *args])
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        cli_main.main()
    captured = capsys.readouterr()
    return subprocess.CompletedProcess(args, exited.value.code, captured.out, captured.err)


def _one_error_line(result: subprocess.CompletedProcess, needle: str) -> None:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0], result.stderr


@pytest.fixture
def fresh_registry(tmp_path, monkeypatch) -> Path:
    data_dir = tmp_path / "user-data"
    monkeypatch.setenv("CLCA_DATA_DIR", str(data_dir))
    monkeypatch.delenv("CLCA_WVS_FILE", raising=False)
    return data_dir


def test_no_product_module_benchmark_script_or_config_looks_for_the_shared_reference_data():
    lookup = re.compile(r'shared_data_dir|"shared"\s*/\s*"data"|shared/data|CLCA_SHARED_DATA')
    root = SRC.parent
    files = [p for folder in (SRC / "clca", root / "benchmarks", root / "configs", root / "scripts")
             for p in folder.rglob("*") if p.is_file() and p.suffix in (".py", ".yaml", ".json", ".j2", ".sh")]
    assert len(files) > 50
    for path in files:
        assert not lookup.search(path.read_text(encoding="utf-8")), path


def test_nothing_named_means_the_bundled_tables_even_with_reference_microdata_beside_the_checkout(
        fresh_registry, deu_microdata):
    assert deu_microdata.is_file()  # the old lookup would have evaluated these 1,528 respondents
    human = load_human_data("DEU", load_question_bank().select("Q1,Q27"))
    assert human.kind == "bundled-table" and human.resolved_by == "bundled" and human.respondents == []


@pytest.mark.slow
def test_fresh_environment_evaluates_a_country_only_persona_from_the_bundled_tables(
        fresh_registry, embedded_backend, tmp_path):
    cfg = EvalConfig(culture="DEU", questions="Q1,Q27", mode="logprob", bootstrap_resamples=0)
    summary = run_evaluation(embedded_backend, cfg, tmp_path / "eval")
    manifest = json.loads((tmp_path / "eval" / "manifest.json").read_text())
    assert manifest["human_kind"] == "bundled-table" and manifest["respondents_available"] == 0
    assert summary.n_personas == 1 and summary.n_questions_scored == 2


def test_add_list_then_load_human_data_picks_the_registered_file(fresh_registry, tmp_path, monkeypatch, capsys):
    wvs = _write_wvs(tmp_path / "my_wvs.csv")
    added = _clca("data", "add-wvs", str(wvs), data_dir=fresh_registry, cwd=tmp_path)
    assert added.returncode == 0, added.stderr
    assert f"registered {wvs.resolve()}" in added.stdout and "DEU (5), FRA (3)" in added.stdout
    listed = _clca("data", "list", data_dir=fresh_registry, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "DEU  5 respondents  social-values 2/44, q50 1/50" in listed.stdout
    assert "FRA  3 respondents  social-values 2/44, q50 1/50" in listed.stdout
    entry = json.loads((fresh_registry / "wvs_files.json").read_text())["files"][0]
    import hashlib

    assert entry["sha256"] == hashlib.sha256(wvs.read_bytes()).hexdigest()

    human = load_human_data("DEU", load_question_bank().select("Q1,Q27"))
    assert human.resolved_by == "registry" and human.source == str(wvs.resolve())
    assert human.kind == "respondents" and len(human.respondents) == 5
    assert human.distributions["Q1"].shares == pytest.approx([3 / 4, 1 / 4, 0, 0], abs=1e-12)
    assert human.distributions["Q27"].shares == pytest.approx([1 / 5, 2 / 5, 1 / 5, 1 / 5], abs=1e-12)
    # a question the file lacks is an error, not a silent switch to the bundled tables
    with pytest.raises(InputDataError, match="no DEU answers to Q2"):
        load_human_data("DEU", load_question_bank().select("Q1,Q2"))
    assert load_human_data("GBR", load_question_bank().select("Q1")).resolved_by == "bundled"

    _write_wvs(wvs, ROWS[:-1])  # edited after registration
    with pytest.raises(InputDataError, match="changed since it was registered"):
        load_human_data("DEU", load_question_bank().select("Q1"))
    removed = _clca_here(monkeypatch, capsys, "data", "remove", str(wvs))
    assert removed.returncode == 0 and "removed" in removed.stdout
    assert load_human_data("DEU", load_question_bank().select("Q1")).resolved_by == "bundled"


def test_an_explicit_file_and_the_environment_variable_come_before_the_registry(fresh_registry, tmp_path,
                                                                                 monkeypatch):
    registered = _write_wvs(tmp_path / "registered.csv")
    from clca.evaluation.registry import add_wvs_file

    add_wvs_file(registered)
    other = _write_wvs(tmp_path / "env.csv", ROWS[:2])
    monkeypatch.setenv("CLCA_WVS_FILE", str(other))
    human = load_human_data("DEU", load_question_bank().select("Q1"))
    assert human.resolved_by == "env" and len(human.respondents) == 2
    explicit = load_human_data("DEU", load_question_bank().select("Q1"), wvs_file=registered)
    assert explicit.resolved_by == "wvs_file" and len(explicit.respondents) == 5
    monkeypatch.setenv("CLCA_WVS_FILE", str(tmp_path / "gone.csv"))
    with pytest.raises(InputDataError, match="named by CLCA_WVS_FILE not found"):
        load_human_data("DEU", load_question_bank().select("Q1"))


@pytest.mark.parametrize(("content", "needle"), [
    ("name,age\nAnna,31\n", "no WVS wave 7 question columns"),
    (HEADER + "276,DEU,1001,7,1,1,2\n", "codes [7] that are not options of Q1"),
    (HEADER + "276,DEU,1001,x,1,1,2\n", "not an integer code"),
    (None, "WVS file not found"),
], ids=["not-wvs", "foreign-code", "non-numeric", "missing"])
def test_a_bad_file_is_one_clear_line_and_exit_2_and_is_not_registered(fresh_registry, tmp_path, monkeypatch,
                                                                        capsys, content, needle):
    bad = tmp_path / "bad.csv"
    if content is not None:
        bad.write_text(content, encoding="utf-8")
    _one_error_line(_clca_here(monkeypatch, capsys, "data", "add-wvs", str(bad)), needle)
    listed = _clca_here(monkeypatch, capsys, "data", "list")
    assert listed.returncode == 0 and "no WVS files registered" in listed.stdout


def test_a_corrupt_registry_and_removing_an_unknown_file_are_one_line(fresh_registry, tmp_path, monkeypatch, capsys):
    _one_error_line(_clca_here(monkeypatch, capsys, "data", "remove", str(tmp_path / "x.csv")),
                    "not a registered WVS file")
    fresh_registry.mkdir(parents=True, exist_ok=True)
    (fresh_registry / "wvs_files.json").write_text("{not json", encoding="utf-8")
    _one_error_line(_clca_here(monkeypatch, capsys, "data", "list"), "data registry is corrupt")
