"""Stages with nothing to do say so in one line (which file, which stage produced nothing) and exit 2, instead of
finishing with an empty output that the next stage would train on."""

from __future__ import annotations

import subprocess
import sys

import pytest

from builders_roleplay import make_conversation
from clca.errors import InputDataError
from clca.intents import run_intents
from clca.jsonl import JsonlStore
from clca.judge import Judgement, run_judge
from clca.roleplay import Conversation


def _one_line_exit_2(*args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "clca.cli.main", *args], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_roleplay_over_an_empty_scenario_file_is_one_line_naming_it_and_the_stage(tmp_path):
    scenarios = tmp_path / "scenarios.jsonl"
    scenarios.write_text("")
    line = _one_line_exit_2("roleplay", "--scenarios", str(scenarios), "--out", str(tmp_path / "c.jsonl"))
    assert "scenarios.jsonl" in line and "no scenarios" in line and "clca scenarios" in line
    assert not (tmp_path / "c.jsonl").exists()  # nothing written, no model loaded


def test_judge_over_an_empty_conversations_file_names_the_role_play_stage(tmp_path):
    conversations = tmp_path / "conversations.jsonl"
    conversations.write_text("")
    with pytest.raises(InputDataError, match="no conversations.*clca roleplay"):
        run_judge(conversations, tmp_path / "j.jsonl", None)  # type: ignore[arg-type]  # fails before any call


def test_intents_when_the_judge_kept_nothing_stops_instead_of_labelling_nothing(tmp_path):
    conversations, judgements = tmp_path / "conversations.jsonl", tmp_path / "judgements.jsonl"
    conversation = make_conversation()
    JsonlStore(conversations, Conversation).write_all([conversation])
    JsonlStore(judgements, Judgement).write_all([Judgement(id=conversation.id, conversation_id=conversation.id,
                                                           culture="CHN", keep=False, keep_reason="quality bad")])
    with pytest.raises(InputDataError, match="kept none of the 1 conversations.*keep_reasons"):
        run_intents(conversations, tmp_path / "i.jsonl", None, judgements_path=judgements)  # type: ignore[arg-type]
