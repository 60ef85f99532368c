"""Dataset builder: views, privacy of the other side's goal/secret, assistant-only labels, selection, hashes."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from builders_dataset import (
    GOAL_0,
    GOAL_1,
    LINES,
    SECRET_0,
    SECRET_1,
    conversation,
    intents,
    write_inputs,
)
from clca.errors import ConfigError, InputDataError
from clca.jsonl import JsonlStore, file_sha256
from clca.judge.schema import Judgement
from clca.training.config import DatasetConfig
from clca.training.dataset import build_dataset, collect_views, rows_sha256
from clca.training.student import load_tokenizer
from clca.training.tokenize import IGNORE_INDEX, encode_chat
from clca.training.views import intent_view, participant_view


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer("embedded")


def test_participant_views_put_the_trained_speaker_in_the_assistant_role():
    conv = conversation()
    p0, p1 = participant_view(conv, 0), participant_view(conv, 1)
    # P0 speaks first: a neutral user message opens its view, so the template sees user before assistant.
    assert [m.role for m in p0.messages[:3]] == ["system", "user", "assistant"]
    assert p0.messages[1].content == "(The conversation begins.)"
    assert p0.messages[2].content == LINES[0][2]
    assert [m.role for m in p1.messages[:3]] == ["system", "user", "assistant"]
    assert p1.messages[1].content == LINES[0][2]
    for view, me in ((p0, 0), (p1, 1)):
        roles = [m.role for m in view.messages[1:]]
        assert all(a != b for a, b in zip(roles, roles[1:], strict=False)), "user/assistant must alternate"
        assert view.messages[-1].role == "assistant"  # trailing turns of the other side carry no loss: dropped
        assistant_text = "\n".join(m.content for m in view.messages if m.role == "assistant")
        for speaker, action, text in LINES:
            if text and action in ("speak", "leave"):
                assert (text in assistant_text) == (speaker == me)
    # Rendering of actions: non-verbal, consecutive same-speaker merge, none, leave.
    assert p1.messages[2].content == ("*bows slightly and accepts the cup with both hands*\n"
                                      "Thank you, Auntie Mei. It is an honour to be invited.")
    assert p0.messages[-1].content == "[does nothing]"
    assert p1.messages[-1].content == "Thank you again for the tea, Auntie. [leaves]"


def test_system_prompt_holds_own_goal_and_secret_never_the_others():
    conv = conversation()
    p0, p1 = participant_view(conv, 0), participant_view(conv, 1)
    s0, s1 = p0.messages[0].content, p1.messages[0].content
    assert s0.startswith("You are Mei Zhang") and s1.startswith("You are Wei Li")
    assert GOAL_0 in s0 and SECRET_0 in s0 and GOAL_1 not in s0 and SECRET_1 not in s0
    assert GOAL_1 in s1 and SECRET_1 in s1 and GOAL_0 not in s1 and SECRET_0 not in s1
    assert conv.scenario.setting in s0 and "Wei Li" in s0  # setting and both participants are described
    iv = intent_view(conv, intents(conv))
    for private in (GOAL_0, GOAL_1, SECRET_0, SECRET_1):
        assert private not in iv.messages[0].content  # the intent task infers intent from behaviour only


def test_intent_view_answers_each_labelled_turn_and_carries_failed_ones_as_context():
    conv = conversation()
    view = intent_view(conv, intents(conv, skip=frozenset({1, 6})))
    answers = [m.content for m in view.messages if m.role == "assistant"]
    assert len(answers) == len(LINES) - 2
    assert answers[0] == "Intent: to show respect in turn 0\nType: cultural"
    questions = [m.content for m in view.messages if m.role == "user"]
    # Turn 1 failed: it is shown together with turn 2, and the question is about turn 2's speaker.
    assert "bows slightly" in questions[1] and "It is an honour" in questions[1]
    assert questions[1].endswith("What is the intent of Wei's last turn?")
    assert "Thank you again for the tea" not in "".join(questions)  # unlabelled last turn: dropped


def test_labels_cover_exactly_the_assistant_replies(tokenizer):
    conv = conversation()
    for view in (participant_view(conv, 0), participant_view(conv, 1), intent_view(conv, intents(conv))):
        input_ids, labels = encode_chat(tokenizer, view.messages)
        assert len(input_ids) == len(labels)
        spans, current = [], []
        for token, label in zip(input_ids, labels, strict=True):
            if label != IGNORE_INDEX:
                assert label == token
                current.append(token)
            elif current:
                spans.append(tokenizer.decode(current))
                current = []
        if current:
            spans.append(tokenizer.decode(current))
        expected = [m.content + tokenizer.eos_token for m in view.messages if m.role == "assistant"]
        assert spans == expected  # the reply and its end-of-turn token, nothing of system/user/role headers


def test_build_writes_dataset_preview_and_manifest_with_hashes(tmp_path, tokenizer):
    import datasets

    paths = write_inputs(tmp_path, n=3, dropped=1)
    manifest = build_dataset(paths["conversations"], tmp_path / "ds", DatasetConfig(),
                             judgements_path=paths["judgements"], intents_path=paths["intents"])
    assert manifest.counts["conversations_read"] == 4
    assert manifest.counts["skipped_judge_dropped"] == 1
    assert manifest.counts["dialogue_examples"] == 6 and manifest.counts["intent_examples"] == 3
    for name in ("conversations", "judgements", "intents"):
        assert manifest.sources[name].sha256 == file_sha256(paths[name])
    ds = datasets.load_from_disk(str(tmp_path / "ds" / "data"))
    assert len(ds) == manifest.examples == 9
    assert manifest.data_sha256 == rows_sha256(ds)
    assert json.loads(ds.info.description)["clca_dataset"]["data_sha256"] == manifest.data_sha256
    assert "chn-3#0" not in set(ds["conversation_id"])  # judged bad: not in the kept data
    preview = [json.loads(line) for line in (tmp_path / "ds" / "preview.jsonl").read_text().splitlines()]
    assert len(preview) == 9 and preview[0]["trained_text"][0].startswith("Wei, thank you")
    saved = json.loads((tmp_path / "ds" / "manifest.json").read_text())
    assert saved["data_sha256"] == manifest.data_sha256 and saved["prompts"]
    # Deterministic: a rebuild gives the same data hash.
    again = build_dataset(paths["conversations"], tmp_path / "ds", DatasetConfig(),
                          judgements_path=paths["judgements"], intents_path=paths["intents"])
    assert again.data_sha256 == manifest.data_sha256


def test_task_selection_weights_and_unfiltered_ablation(tmp_path):
    convs = [conversation(i) for i in range(4)]
    from builders_dataset import judgement

    judged = [judgement(c, keep=i < 2) for i, c in enumerate(convs)]
    labels = [intents(c) for c in convs[:2]]
    views, counts = collect_views(convs, judged, labels, DatasetConfig(tasks="dialogue"))
    assert {v.task for v in views} == {"dialogue"} and len(views) == 4
    views, _ = collect_views(convs, judged, labels, DatasetConfig(tasks="intent"))
    assert {v.task for v in views} == {"intent"} and len(views) == 2
    views, _ = collect_views(convs, judged, labels, DatasetConfig(intent_weight=2.0, dialogue_weight=0.5))
    assert sum(v.task == "intent" for v in views) == 4 and sum(v.task == "dialogue" for v in views) == 2
    assert len({v.id for v in views}) == len(views)  # copies get their own ids
    views, counts = collect_views(convs, None, labels, DatasetConfig(data="unfiltered"))
    assert counts["conversations_used"] == 4 and sum(v.task == "dialogue" for v in views) == 8
    assert counts["skipped_intent_view_no_labels"] == 2  # intents exist only for kept conversations
    failed = conversation(9, termination="error")
    _, counts = collect_views([failed], None, None, DatasetConfig(data="unfiltered", tasks="dialogue"))
    assert counts["skipped_failed_conversation"] == 1


def test_bad_inputs_are_one_line_errors(tmp_path):
    paths = write_inputs(tmp_path, n=1, dropped=0)
    with pytest.raises(InputDataError, match="not found"):
        build_dataset(tmp_path / "missing.jsonl", tmp_path / "ds", DatasetConfig(tasks="dialogue"),
                      judgements_path=paths["judgements"])
    with pytest.raises(ConfigError, match="--judgements"):
        build_dataset(paths["conversations"], tmp_path / "ds", DatasetConfig(tasks="dialogue"))
    with pytest.raises(ConfigError, match="--intents"):
        build_dataset(paths["conversations"], tmp_path / "ds", DatasetConfig(),
                      judgements_path=paths["judgements"])
    with pytest.raises(InputDataError, match="intents.jsonl:1: field 'keep'"):  # wrong file passed
        build_dataset(paths["conversations"], tmp_path / "ds", DatasetConfig(tasks="dialogue"),
                      judgements_path=paths["intents"])
    from builders_dataset import judgement

    other = tmp_path / "other_judgements.jsonl"
    JsonlStore(other, Judgement).write_all([judgement(conversation(7), keep=True)])
    with pytest.raises(InputDataError, match="no training examples.*skipped_not_judged=1"):
        build_dataset(paths["conversations"], tmp_path / "ds", DatasetConfig(tasks="dialogue"),
                      judgements_path=other)
    with pytest.raises(ValueError):
        DatasetConfig(tasks="intent", intent_weight=0)


def test_cli_builds_and_reports_errors_in_one_line(tmp_path):
    from clca.cli.main import app

    paths = write_inputs(tmp_path, n=2, dropped=1)
    runner = CliRunner()
    result = runner.invoke(app, ["dataset", "build", "--conversations", str(paths["conversations"]),
                                 "--judgements", str(paths["judgements"]), "--tasks", "dialogue",
                                 "--out", str(tmp_path / "ds"), "--set", "dialogue_weight=0.5"])
    assert result.exit_code == 0, result.output
    assert "2 examples (2 dialogue, 0 intent) from 2 of 3 conversations" in result.output
    bad = runner.invoke(app, ["dataset", "build", "--conversations", str(paths["conversations"]),
                              "--out", str(tmp_path / "ds2"), "--data", "everything"])
    assert bad.exit_code != 0
