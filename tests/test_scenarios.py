"""Seed scenarios, answer parsing and importers (no model needed)."""

from __future__ import annotations

import json

import pytest

from clca.errors import InputDataError
from clca.scenarios import import_scenarios, load_seed_scenarios
from clca.scenarios.generate import read_norms, select_seeds
from clca.scenarios.parsing import ScenarioParseError, parse_scenario_answer

DOMAINS = {"family duties", "elders", "gender roles", "work and careers", "neighbours", "hospitality", "gifts",
           "money", "religion", "immigrants", "authority", "friendship", "children's upbringing"}

PERSON = {"first_name": "Anna", "last_name": "Weber", "age": 30, "gender": "woman", "occupation": "teacher",
          "background": "b", "public_info": "p", "secret": "s", "goal": "Get help."}


def test_seeds_validate_and_cover_domains():
    seeds = load_seed_scenarios()
    assert len(seeds) >= 40
    assert len({s.id for s in seeds}) == len(seeds)
    assert {s.domain for s in seeds} == DOMAINS
    assert all(s.culture == "generic" and s.source == "seed" for s in seeds)
    assert all(p.goal and p.secret and p.occupation and p.age for s in seeds for p in s.participants)
    # each domain has several scenarios, so a subset still spreads over domains
    assert min(sum(s.domain == d for s in seeds) for d in DOMAINS) >= 3


def test_select_seeds_shuffles_caps_and_cycles():
    seeds = load_seed_scenarios()
    assert [s.id for s, _ in select_seeds(seeds, 5, 1)] == [s.id for s, _ in select_seeds(seeds, 5, 1)]
    assert [s.id for s, _ in select_seeds(seeds, 5, 1)] != [s.id for s, _ in select_seeds(seeds, 5, 2)]
    cycled = select_seeds(seeds, len(seeds) + 3, 0)
    assert [k for _, k in cycled].count(1) == 3
    assert len({(s.id, k) for s, k in cycled}) == len(cycled)


@pytest.mark.parametrize("wrap", [
    lambda j: j,
    lambda j: f"```json\n{j}\n```",
    lambda j: f"Sure! Here is the scenario:\n{j}\nI hope this helps {{:)}}",
    lambda j: f"```\n{j}\n``` trailing words",
])
def test_parse_accepts_fences_and_surrounding_text(wrap):
    answer = wrap(json.dumps({"setting": "A tea house.", "person1": PERSON, "person2": {**PERSON, "age": "41"}}))
    parsed = parse_scenario_answer(answer)
    assert parsed["setting"] == "A tea house."
    assert parsed["participants"][1].age == 41


def test_parse_lenient_keys_but_strict_content():
    person = {"name": "Li Wei", "job": "cook", "secrets": ["a", "b"], "goal": "Win.", "mood": "calm"}
    parsed = parse_scenario_answer(json.dumps({"Setting": "x", "person1": person, "person2": PERSON}))
    first = parsed["participants"][0]
    assert (first.first_name, first.last_name, first.occupation, first.secret) == ("Li", "Wei", "cook", "a b")
    with pytest.raises(ScenarioParseError, match="person2.goal"):
        parse_scenario_answer(json.dumps({"setting": "x", "person1": PERSON, "person2": {**PERSON, "goal": ""}}))
    with pytest.raises(ScenarioParseError, match="setting"):
        parse_scenario_answer(json.dumps({"person1": PERSON, "person2": PERSON}))
    with pytest.raises(ScenarioParseError, match="JSON"):
        parse_scenario_answer('{"setting": "x", "person1": {')
    with pytest.raises(ScenarioParseError, match="relationship"):
        parse_scenario_answer(json.dumps({"setting": "x", "relationship": "boss", "person1": PERSON,
                                          "person2": PERSON}), need_relationship=True)
    ok = parse_scenario_answer(json.dumps({"setting": "x", "relationship": "Family member", "person1": PERSON,
                                           "person2": PERSON}), need_relationship=True)
    assert ok["relationship"] == "family_member"


def test_read_norms(tmp_path):
    path = tmp_path / "norms.txt"
    path.write_text("# comment\nIt is rude to refuse food.\n\nIt is rude to refuse food.\nRespect elders.\n")
    assert read_norms(path) == ["It is rude to refuse food.", "Respect elders."]
    (tmp_path / "empty.txt").write_text("# nothing\n")
    with pytest.raises(InputDataError, match="no norms"):
        read_norms(tmp_path / "empty.txt")


SOTOPIA_AGENT_1 = {"pk": "a1", "first_name": "Mia", "last_name": "Davis", "age": 50, "occupation": "baker",
                   "gender": "Woman", "gender_pronoun": "She/her", "public_info": "Runs a bakery.",
                   "big_five": "", "moral_values": ["Care"], "personality_and_values": "Warm and practical.",
                   "decision_making_style": "Analytical.", "secret": "Owes rent.", "model_id": "", "mbti": "ESFJ"}
SOTOPIA_AGENT_2 = {**SOTOPIA_AGENT_1, "pk": "a2", "first_name": "Noah", "last_name": "Kim", "gender": "Man"}
SOTOPIA_ENV = {"pk": "env1", "codename": "borrow_money", "source": "hand", "scenario": "Two neighbours talk.",
               "agent_goals": ["<extra_info>x</extra_info> Borrow money.", "Keep your savings."],
               "relationship": 2, "age_constraint": None, "occupation_constraint": None, "agent_constraint": None}


def _write_jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def test_import_sotopia_combo_records(tmp_path):
    path = _write_jsonl(tmp_path / "sotopia.jsonl", [
        SOTOPIA_AGENT_1, SOTOPIA_AGENT_2, SOTOPIA_ENV, {"env_id": "env1", "agent_ids": ["a1", "a2"]},
    ])
    [scenario] = import_scenarios(path)
    assert scenario.id == "sotopia-env1" and scenario.culture == "generic" and scenario.source == "sotopia"
    assert scenario.relationship == "acquaintance"
    a, b = scenario.participants
    assert (a.first_name, a.goal, a.secret) == ("Mia", "<extra_info>x</extra_info> Borrow money.", "Owes rent.")
    assert a.background == "Warm and practical. Analytical."
    assert (b.first_name, b.goal) == ("Noah", "Keep your savings.")


def test_import_sotopia_embedded_agents_json_array(tmp_path):
    env = {**SOTOPIA_ENV, "relationship": "friend", "agents": [SOTOPIA_AGENT_1, SOTOPIA_AGENT_2]}
    path = tmp_path / "envs.json"
    path.write_text(json.dumps([env], indent=2))
    [scenario] = import_scenarios(path, culture="mex")
    assert scenario.culture == "MEX" and scenario.relationship == "friend"


def test_import_clca_format(tmp_path):
    rec = {"culture": "China", "persona": "They are colleagues.", "setting": "A teahouse in Suzhou.",
           "person1": {"background": "b1", "occupation": "clerk", "goal": "g1", "secrets": "s1"},
           "person2": {"name": "Wang Fang", "background": "b2", "occupation": "manager", "goal": "g2", "secrets": ""}}
    path = _write_jsonl(tmp_path / "clca.jsonl", [rec, {**rec, "culture": "DEU"}])
    first, second = import_scenarios(path)
    assert first.culture == "CHN" and second.culture == "DEU" and first.source == "clca"
    assert first.setting == "A teahouse in Suzhou. They are colleagues."
    assert first.participants[0].first_name == "Person 1" and first.participants[0].secret == "s1"
    assert (first.participants[1].first_name, first.participants[1].last_name) == ("Wang", "Fang")
    assert first.id != second.id


@pytest.mark.parametrize(("records", "fragment"), [
    ([{**SOTOPIA_ENV, "agent_goals": ["only one"]}], ":1: field 'agent_goals'"),
    ([SOTOPIA_ENV], ":1: no two agent profiles"),
    ([SOTOPIA_AGENT_1, SOTOPIA_ENV, {"env_id": "env1", "agent_ids": ["a1", "zz"]}], ":2: agent profile(s) zz"),
    ([{**SOTOPIA_ENV, "relationship": 9, "agents": [SOTOPIA_AGENT_1, SOTOPIA_AGENT_2]}], "field 'relationship'"),
    ([{**SOTOPIA_ENV, "agents": [SOTOPIA_AGENT_1, {**SOTOPIA_AGENT_2, "age": 300}]}], "agents[1]: field 'age'"),
    ([{"culture": "Atlantis", "setting": "x", "person1": {"goal": "g"}, "person2": {"goal": "g"}}],
     ":1: field 'culture'"),
    ([{"culture": "DEU", "setting": "x", "person1": {"goal": "g"}, "person2": {"goal": ""}}],
     ":1: person2: field 'goal'"),
    ([{"culture": "DEU", "setting": "", "person1": {"goal": "g"}, "person2": {"goal": "g"}}], "field 'setting'"),
    ([{"hello": "world"}], ":1: not a scenario record"),
])
def test_import_bad_records_name_file_line_field(tmp_path, records, fragment):
    path = _write_jsonl(tmp_path / "bad.jsonl", records)
    with pytest.raises(InputDataError) as info:
        import_scenarios(path)
    message = str(info.value)
    assert str(path) in message and fragment in message and "\n" not in message


def test_import_bad_files(tmp_path):
    (tmp_path / "torn.jsonl").write_text(json.dumps(SOTOPIA_ENV) + "\n{\"scenario\": \n")
    with pytest.raises(InputDataError, match=r"torn.jsonl:2: invalid JSON"):
        import_scenarios(tmp_path / "torn.jsonl")
    (tmp_path / "empty.json").write_text("  \n")
    with pytest.raises(InputDataError, match="empty"):
        import_scenarios(tmp_path / "empty.json")
    with pytest.raises(InputDataError, match="not found"):
        import_scenarios(tmp_path / "missing.json")
    (tmp_path / "arr.json").write_text("[1, 2]")
    with pytest.raises(InputDataError, match="item 1: expected a JSON object"):
        import_scenarios(tmp_path / "arr.json")


def test_import_cli_appends_only_new(tmp_path):
    from typer.testing import CliRunner

    from clca.cli.main import app

    src = _write_jsonl(tmp_path / "s.jsonl", [{**SOTOPIA_ENV, "agents": [SOTOPIA_AGENT_1, SOTOPIA_AGENT_2]}])
    out = tmp_path / "out.jsonl"
    for expected in (1, 0):
        result = CliRunner().invoke(app, ["scenarios", "import", str(src), "--out", str(out)])
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["written"] == expected
    assert len(out.read_text().splitlines()) == 1


def test_cli_rejects_bad_input_before_loading_a_model(tmp_path):
    from typer.testing import CliRunner

    from clca.cli.main import app
    from clca.errors import ClcaError

    runner = CliRunner()
    result = runner.invoke(app, ["scenarios", "adapt", "--culture", "XXQ", "--out", str(tmp_path / "o.jsonl")])
    assert isinstance(result.exception, ClcaError) and "unknown culture code" in str(result.exception)
    result = runner.invoke(app, ["scenarios", "from-norms", "--norms", str(tmp_path / "none.txt"), "--culture",
                                 "DEU", "--out", str(tmp_path / "o.jsonl")])
    assert isinstance(result.exception, ClcaError) and "norms file not found" in str(result.exception)
    result = runner.invoke(app, ["scenarios", "adapt", "--culture", "DEU", "--out", str(tmp_path / "o.jsonl"),
                                 "--set", "max_repairs=-1"])
    assert isinstance(result.exception, ClcaError) and "max_repairs" in str(result.exception)
