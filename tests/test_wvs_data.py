"""Question bank, WVS CSV readers on the real reference files, bundled tables re-derivation, sampling."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from clca.errors import ConfigError, InputDataError
from clca.evaluation.human import BUNDLED_TABLES_PATH, bundled_distributions, load_human_data
from clca.evaluation.personas import persona_from_respondent
from clca.evaluation.questions import load_question_bank
from clca.evaluation.survey import read_wvs_csv, sample_respondents
from clca.evaluation.wvs_tables import derive_tables, serialise_tables

Q50_COUNTS = {"BGD": 1200, "BRA": 1762, "CHN": 3036, "DEU": 1528, "KOR": 1245, "MEX": 1741, "TUR": 2415, "USA": 2596}


def test_social_values_set_has_the_papers_44_with_the_papers_scale_counts():
    questions = load_question_bank().select("social-values")
    assert len(questions) == 44
    assert "Q42" not in {q.id for q in questions}
    shapes = Counter((q.scale_type, len(q.codes)) for q in questions)
    assert shapes == {("binary", 2): 20, ("ordinal", 4): 12, ("ordinal", 5): 9, ("ordinal", 3): 3}


def test_q50_set_matches_questions_csv(shared_data):
    # the file has unquoted commas inside fields: only the second field (q_id) is reliable
    lines = (shared_data / "wvs_wave7_q50" / "questions.csv").read_text(encoding="utf-8").splitlines()[1:]
    ids = [f"Q{int(line.split(',')[1])}" for line in lines if line.strip()]
    assert [q.id for q in load_question_bank().select("q50")] == ids


def test_selection_by_category_ids_and_errors():
    bank = load_question_bank()
    assert [q.id for q in bank.select("migration")] == [f"Q{i}" for i in range(122, 130)]
    assert [q.id for q in bank.select("q27, Q1")] == ["Q1", "Q27"]
    assert bank.get("Q122").codes == [0, 1, 2]  # 0 is a valid code
    assert bank.get("Q31").codes == [1, 2, 3, 4]  # the free text's duplicated "4." is a typo
    with pytest.raises(ConfigError, match="not a question set"):
        bank.select("values-of-mars")


@pytest.mark.parametrize("iso3", sorted(Q50_COUNTS))
def test_q50_reader_counts_respondents_and_codes_match_bank(shared_data, iso3):
    questions = load_question_bank().select("q50")
    respondents = read_wvs_csv(shared_data / "wvs_wave7_q50" / "responses" / f"{iso3}.csv", [q.id for q in questions],
                               demographics=False)
    assert len(respondents) == Q50_COUNTS[iso3]  # the Avg rows are dropped
    for q in questions:
        valid = {r.answers[q.id] for r in respondents if r.answers[q.id] >= 0}
        assert valid <= set(q.codes), (iso3, q.id, valid)


def test_china_not_asked_questions_are_skipped(shared_data):
    dists = bundled_distributions("CHN", load_question_bank().select("q50"))
    not_asked = sorted((q for q, d in dists.items() if d.not_asked), key=lambda q: int(q[1:]))
    assert len(not_asked) == 18
    assert "Q125" in not_asked and "Q233" in not_asked


def test_microdata_reader_with_demographics(shared_data):
    folder = shared_data / "wvs_found" / "microdata" / "dataspi_spy-playground_v5.0"
    questions = [q.id for q in load_question_bank().select("social-values")]
    for iso3, n in {"DEU": 1528, "JPN": 1353, "MEX": 1741}.items():
        respondents = read_wvs_csv(folder / f"{iso3}.csv", questions)
        assert len(respondents) == n
        assert respondents[0].country == iso3
    persona = persona_from_respondent(respondents[0])
    assert persona.fields["country"] == "Mexico" and "age" in persona.fields and not persona.country_only


def test_microdata_distribution_matches_bundled_aggregate(deu_microdata):
    questions = load_question_bank().select("social-values")
    human = load_human_data("DEU", questions, wvs_file=deu_microdata)
    assert human.kind == "respondents" and human.resolved_by == "wvs_file"
    bundled = bundled_distributions("DEU", questions)
    for q in questions:
        assert human.distributions[q.id].shares == pytest.approx(bundled[q.id].shares, abs=1e-12)
        assert human.distributions[q.id].n_valid == bundled[q.id].n_valid


def test_official_country_csv_turkey(shared_data):
    path = shared_data / "wvs_found" / "microdata" / "official_country_csv" / "F00013167-WVS_Wave_7_Turkey_Csv_v5.0.csv"
    respondents = read_wvs_csv(path, ["Q1", "Q27", "Q122"])
    assert len(respondents) == 2415
    assert {r.country for r in respondents} == {"TUR"}
    assert "Q260" in respondents[0].demographics


def test_bundled_tables_rederive_exactly(shared_data):
    document = derive_tables(shared_data)
    assert serialise_tables(document) == BUNDLED_TABLES_PATH.read_text(encoding="utf-8")
    tables = json.loads(BUNDLED_TABLES_PATH.read_text(encoding="utf-8"))
    assert "doi.org/10.14281/18241.20" in tables["attribution"]
    for iso3 in ("GBR", "CHN", "DEU", "MEX", "JPN", "USA"):
        assert len(tables["tables"]["social-values"][iso3]) == 44, iso3
    assert sorted(tables["tables"]["q50"]) == sorted(Q50_COUNTS)


def test_bundled_shares_are_distributions():
    for iso3 in ("GBR", "CHN", "MEX"):
        for d in bundled_distributions(iso3, load_question_bank().select("social-values")).values():
            assert sum(d.shares) == pytest.approx(1.0, abs=1e-9)


def _write(path, text, bom=False):
    path.write_bytes(("\ufeff" if bom else "").encode() + text.encode("utf-8"))
    return path


OFFICIAL_HEADER = '"version";"B_COUNTRY";"B_COUNTRY_ALPHA";"D_INTERVIEW";"H_SETTLEMENT";"Q260";"Q262";"Q1";"Q27"\n'


def test_official_format_synthetic_file(tmp_path):
    rows = [f'"5-0";276;"DEU";{276070000 + i};2;1;30;1;{(i % 4) + 1}\n' for i in range(1, 11)]
    rows.append('"5-0";276;"DEU";276070011;2;2;-2;-1;-4\n')
    path = _write(tmp_path / "wvs.csv", OFFICIAL_HEADER + "".join(rows), bom=True)
    respondents = read_wvs_csv(path, ["Q1", "Q27"])
    assert len(respondents) == 11
    assert respondents[-1].answers == {"Q1": -1, "Q27": -4}
    human = load_human_data("DEU", load_question_bank().select("Q1,Q27"), wvs_file=path)
    assert human.distributions["Q27"].n_valid == 10
    assert human.distributions["Q27"].missing_shares == {-4: pytest.approx(1 / 11)}
    persona = persona_from_respondent(respondents[-1])
    assert "age" not in persona.fields  # -2 = no answer: left out, never verbalised


def test_bad_files_give_one_line_errors(tmp_path):
    missing = _write(tmp_path / "a.csv", '"B_COUNTRY_ALPHA";"Q1"\n"DEU";1\n', bom=True)
    with pytest.raises(InputDataError, match="column 'Q27' is missing"):
        read_wvs_csv(missing, ["Q1", "Q27"])
    text = _write(tmp_path / "b.csv", '"B_COUNTRY_ALPHA";"Q1"\n"DEU";1\n"DEU";often\n', bom=True)
    with pytest.raises(InputDataError, match=r"line 3, column 'Q1': not an integer"):
        read_wvs_csv(text, ["Q1"])
    truncated = _write(tmp_path / "c.csv", '"B_COUNTRY_ALPHA";"Q1";"Q27"\n"DEU";1;2\n"DEU";1')
    with pytest.raises(InputDataError, match="line 3 has 2 of the header's 3 fields — the file looks truncated"):
        read_wvs_csv(truncated, ["Q1", "Q27"])
    wrong_code = _write(tmp_path / "d.csv", '"B_COUNTRY_ALPHA";"Q1"\n"DEU";7\n')
    with pytest.raises(InputDataError, match="not options of Q1"):
        load_human_data("DEU", load_question_bank().select("Q1"), wvs_file=wrong_code)


def test_sampling_is_seeded_without_replacement_and_order_independent(shared_data):
    folder = shared_data / "wvs_found" / "microdata" / "dataspi_spy-playground_v5.0"
    respondents = read_wvs_csv(folder / "DEU.csv", ["Q1"], demographics=False)
    a = sample_respondents(respondents, 100, seed=0)
    assert len({r.id for r in a}) == 100
    assert [r.id for r in a] == [r.id for r in sample_respondents(list(reversed(respondents)), 100, seed=0)]
    assert [r.id for r in a] != [r.id for r in sample_respondents(respondents, 100, seed=1)]
