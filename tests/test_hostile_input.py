"""Hostile input: every kind of bad file or string a user can hand clca gives ONE line (exit 2, no traceback) that
names the file/field, and loses nothing already produced. Plus property tests: no string crashes the parsers of
survey answers and scenario JSON (role-play, judge and intent parsers have theirs in test_*_parsing.py).

The CLI is driven in-process through `clca.cli.main.main()` — the same entry point and error mapping as the
`clca` script, without paying the interpreter start-up for each of the many cases; one case runs as a real
subprocess to prove the script behaves the same.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from clca.cli import main as cli_main
from clca.evaluation.strategies import parse_answer
from clca.scenarios.parsing import ScenarioParseError, extract_json_object, parse_scenario_answer

UNREACHABLE_MODEL = "openai:test-model@http://127.0.0.1:9/v1"  # never contacted: input checks come first


def clca_in_process(monkeypatch, capsys, *args: str) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["clca", *args])
    monkeypatch.setenv("CLCA_PROGRESS", "0")
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        cli_main.main()
    return exited.value.code, capsys.readouterr().err


def assert_one_line(code: int, err: str, *needles: str) -> None:
    """Exit 2, no traceback, exactly one `error:` line and it is the last (stage status lines of `clca run` may
    come before it: a bad model spec is found when the stage that needs the model opens it)."""
    lines = err.strip().splitlines()
    errors = [line for line in lines if line.startswith("error:")]
    assert code == 2, err[-2000:]
    assert "Traceback" not in err and len(errors) == 1 and lines[-1] == errors[0], err[-2000:]
    for needle in needles:
        assert needle in errors[0], errors[0]


# ------------------------------------------------------------------------------------------------ run configs

GOOD_CONFIG = {"name": "hostile", "cultures": ["DEU"], "models": {"default": {"spec": UNREACHABLE_MODEL}}}


def config_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "run.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(("text", "needles"), [
    ("name: [unclosed\ncultures: DEU\n", ["run.yaml", "line 2", "YAML"]),
    ("- just\n- a list\n", ["run.yaml"]),
    (yaml.safe_dump({**GOOD_CONFIG, "modles": {}}), ["modles"]),
    (yaml.safe_dump({**GOOD_CONFIG, "roleplay": {"max_turns": "many"}}), ["roleplay.max_turns"]),
    (yaml.safe_dump({**GOOD_CONFIG, "roleplay": {"max_turns": -3}}), ["roleplay.max_turns"]),
    (yaml.safe_dump({**GOOD_CONFIG, "cultures": ["ZZZ"]}), ["ZZZ"]),
    (yaml.safe_dump({**GOOD_CONFIG, "cultures": "DEU"}), ["cultures"]),
    (yaml.safe_dump({**GOOD_CONFIG, "models": {"default": {"spec": "gpt4"}}}), ["gpt4", "accepted forms"]),
    (yaml.safe_dump({**GOOD_CONFIG, "models": {"default": {"spec": "openai:m@"}}}), ["openai:m@"]),
], ids=["malformed-yaml", "not-a-mapping", "unknown-key", "wrong-type", "out-of-range", "unknown-culture",
        "string-not-list", "spec-does-not-parse", "spec-without-url"])
def test_bad_run_configs_are_one_line(tmp_path, monkeypatch, capsys, text, needles) -> None:
    monkeypatch.chdir(tmp_path)
    code, err = clca_in_process(monkeypatch, capsys, "run", "--config", str(config_file(tmp_path, text)))
    assert_one_line(code, err, *needles)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("*.jsonl"))


def test_bad_set_override_and_missing_config(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    path = config_file(tmp_path, yaml.safe_dump(GOOD_CONFIG))
    assert_one_line(*clca_in_process(monkeypatch, capsys, "run", "--config", str(path), "--set", "roleplay.max_turns"))
    assert_one_line(*clca_in_process(monkeypatch, capsys, "run", "--config", str(tmp_path / "absent.yaml")),
                    "absent.yaml")


def test_the_real_script_gives_the_same_one_line(tmp_path) -> None:
    path = config_file(tmp_path, "name: [unclosed\n")
    result = subprocess.run([sys.executable, "-m", "clca.cli.main", "run", "--config", str(path)], cwd=tmp_path,
                            capture_output=True, text=True, env={**os.environ, "CLCA_PROGRESS": "0"}, timeout=120)
    assert_one_line(result.returncode, result.stderr, "run.yaml")


# ------------------------------------------------------------------------------------------------ data files

def test_scenario_files_with_missing_fields_or_latin1_bytes(tmp_path, monkeypatch, capsys) -> None:
    out = tmp_path / "conversations.jsonl"
    out.write_text("precious earlier output\n", encoding="utf-8")
    missing = tmp_path / "missing.jsonl"
    missing.write_text('{"id": "x", "setting": "a kitchen"}\n', encoding="utf-8")
    latin1 = tmp_path / "latin1.jsonl"
    latin1.write_bytes('{"id": "x", "setting": "Café"}\n'.encode("latin-1"))
    for path, needles in ((missing, ["missing.jsonl:1", "culture"]), (latin1, ["latin1.jsonl:1", "UTF-8"])):
        code, err = clca_in_process(monkeypatch, capsys, "roleplay", "--scenarios", str(path), "--out", str(out),
                                    "--model", UNREACHABLE_MODEL)
        assert_one_line(code, err, *needles)
    assert out.read_text(encoding="utf-8") == "precious earlier output\n"  # nothing already produced is lost


WVS_HEADER = "B_COUNTRY,B_COUNTRY_ALPHA,Q260,Q262,Q1,Q2,Q3"


@pytest.mark.parametrize(("content", "needles"), [
    ("B_COUNTRY,B_COUNTRY_ALPHA,Q1\n276,DEU,1\n", ["Q2"]),  # a question column missing
    (f"{WVS_HEADER}\n" + "276,DEU,1,40,-1,-2,-4\n" * 5, ["wvs.csv"]),  # every answer a missing code
    (f"{WVS_HEADER}\n" + "276,DEU,1,40,one,two,3\n" * 5, ["wvs.csv"]),  # non-numeric codes
    (f"{WVS_HEADER}\n276,DEU,1,40,1,2,3\n276,DEU,2,3", ["wvs.csv"]),  # truncated mid-row (download cut short)
    ("", ["wvs.csv"]),  # empty file
], ids=["missing-column", "all-missing", "non-numeric", "truncated", "empty"])
def test_bad_wvs_files_are_one_line(tmp_path, monkeypatch, capsys, content, needles) -> None:
    wvs = tmp_path / "wvs.csv"
    wvs.write_text(content, encoding="utf-8")
    code, err = clca_in_process(monkeypatch, capsys, "evaluate", "--model", UNREACHABLE_MODEL, "--culture", "DEU",
                                "--questions", "Q1,Q2,Q3", "--personas", "2", "--wvs-file", str(wvs),
                                "--out", str(tmp_path / "eval"), "--mode", "generate")
    assert_one_line(code, err, *needles)


def test_adapter_that_is_not_an_adapter_and_unparseable_specs(tmp_path, monkeypatch, capsys) -> None:
    not_adapter = tmp_path / "weights"
    not_adapter.mkdir()
    (not_adapter / "README.txt").write_text("not a LoRA adapter")
    assert_one_line(*clca_in_process(monkeypatch, capsys, "models", "check", f"embedded+adapter={not_adapter}"),
                    "adapter_config.json")
    assert_one_line(*clca_in_process(monkeypatch, capsys, "models", "check", f"embedded+adapter={tmp_path}/absent"),
                    "absent")
    for spec in ("foo:bar", "openai:", "hf:", "embedded+adapter="):
        assert_one_line(*clca_in_process(monkeypatch, capsys, "models", "check", spec))


def test_unknown_culture_code_in_commands(monkeypatch, capsys) -> None:
    assert_one_line(*clca_in_process(monkeypatch, capsys, "cultures", "show", "XYZ"), "XYZ", "did you mean")


# ------------------------------------------------------------------------------------------------ parser properties

@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300), st.lists(st.integers(min_value=-5, max_value=10), min_size=1, max_size=10, unique=True),
       st.booleans())
def test_no_string_crashes_the_survey_answer_parser(raw: str, codes: list[int], reasoning: bool) -> None:
    code, reason = parse_answer(raw, codes, reasoning=reasoning)
    assert (code is None) != (reason is None)  # either a valid option or a reason — never both, never neither
    assert code is None or code in codes


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=400),
                 st.builds(lambda a, b: "{" + a + "}" + b, st.text(max_size=200), st.text(max_size=50)),
                 st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                              lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
                                  st.sampled_from(["setting", "person1", "person2", "first_name", "age", "goal",
                                                   "relationship", "x"]), inner, max_size=5),
                              max_leaves=20).map(lambda v: __import__("json").dumps(v))),
       st.booleans())
def test_no_string_crashes_the_scenario_json_parser(raw: str, need_relationship: bool) -> None:
    """Any reply is either parsed into scenario fields or rejected with ScenarioParseError (a ValueError the
    generator records as a failure) — never another exception."""
    try:
        parsed = parse_scenario_answer(raw, need_relationship=need_relationship)
    except ScenarioParseError:
        return
    assert isinstance(parsed, dict)
    # a reply that parsed holds a JSON object, and extracting it again gives the same object
    assert isinstance(extract_json_object(raw), dict)
