"""WVS file loader: separators, labelled headers, blanks, corrupt codes, country columns, survey weights."""

from __future__ import annotations

import pandas as pd
import pytest

from clca.errors import InputDataError
from clca.evaluation import metrics as M
from clca.evaluation.human import load_human_data
from clca.evaluation.personas import persona_from_respondent
from clca.evaluation.questions import load_question_bank
from clca.evaluation.survey import (
    distribution_from_codes,
    distributions_from_respondents,
    read_wvs_csv,
    respondent_weights,
    variable_name,
)


def _write(path, header, rows, sep=";"):
    path.write_text(sep.join(header) + "\n" + "".join(sep.join(map(str, r)) + "\n" for r in rows), encoding="utf-8")
    return path


HEADER = ["B_COUNTRY", "B_COUNTRY_ALPHA", "D_INTERVIEW", "N_REGION_ISO", "Q260", "Q1", "Q27"]


def _rows(n=4):
    return [[276, "DEU", 276070000 + i, 276002, 1 + i % 2, 1 + i % 4, 1 + i % 4] for i in range(n)]


def test_tab_separated_file(tmp_path):
    path = _write(tmp_path / "wvs.tsv", HEADER, _rows(), sep="\t")
    respondents = read_wvs_csv(path, ["Q1", "Q27"])
    assert len(respondents) == 4 and respondents[1].answers == {"Q1": 2, "Q27": 2}
    assert respondents[1].demographics["Q260"] == 2


def test_header_with_codebook_labels(tmp_path):
    header = ["B_COUNTRY Country code", "B_COUNTRY_ALPHA Country ISO", "D_INTERVIEW Interview ID",
              "N_REGION_ISO Region", "Q260 Sex", "Q1 Important in life: Family", "Q27: One of main goals"]
    respondents = read_wvs_csv(_write(tmp_path / "labelled.csv", header, _rows()), ["Q1", "Q27"])
    assert respondents[0].answers == {"Q1": 1, "Q27": 1} and respondents[0].demographics["Q260"] == 1
    assert variable_name(' "Q260 Sex" ') == "Q260" and variable_name("B_COUNTRY_ALPHA") == "B_COUNTRY_ALPHA"


def test_blank_unused_column_is_fine_and_blank_answer_is_a_counted_missing_answer(tmp_path):
    rows = _rows()
    rows[1][3] = ""  # N_REGION_ISO blank
    rows[2][5] = ""  # Q1 blank
    path = _write(tmp_path / "blanks.csv", HEADER, rows)
    respondents = read_wvs_csv(path, ["Q1", "Q27"])
    assert respondents[1].demographics["N_REGION_ISO"] == -5
    assert respondents[2].answers["Q1"] == -5
    human = load_human_data("DEU", load_question_bank().select("Q1,Q27"), wvs_file=path)
    assert human.distributions["Q1"].n_valid == 3
    assert human.distributions["Q1"].missing_shares == {-5: pytest.approx(0.25)}


@pytest.mark.parametrize("names", [("Q1", "Q1"), ("Q1", " Q1 "), ("Q1", "Q1 Important in life: Family")])
def test_duplicate_columns_give_one_line(tmp_path, names):
    header = ["B_COUNTRY_ALPHA", names[0], names[1]]
    path = _write(tmp_path / "dup.csv", header, [["DEU", 1, 2]])
    with pytest.raises(InputDataError, match=r"header columns 2 .* and 3 .* both hold Q1 — keep one of them"):
        read_wvs_csv(path, ["Q1"])


@pytest.mark.parametrize("raw,what", [
    ("inf", "not an integer code"), ("1.5", "not an integer code"), ("often", "not an integer code"),
    ("99999999999999999999999", "out-of-range code"), ("-7", "out-of-range code"), ("NaN", "not an integer code"),
])
def test_corrupt_codes_are_errors_never_missing(tmp_path, raw, what):
    rows = _rows()
    rows[2][6] = raw
    path = _write(tmp_path / "bad.csv", HEADER, rows)
    with pytest.raises(InputDataError, match=rf"bad.csv: line 4, column 'Q27': {what}"):
        read_wvs_csv(path, ["Q1", "Q27"])


def test_out_of_range_positive_code_is_an_error_in_the_distribution(tmp_path):
    rows = _rows()
    rows[0][6] = 9
    path = _write(tmp_path / "nine.csv", HEADER, rows)
    with pytest.raises(InputDataError, match=r"codes \[9\] that are not options of Q27"):
        load_human_data("DEU", load_question_bank().select("Q27"), wvs_file=path)


def test_country_columns_must_agree(tmp_path):
    rows = _rows()
    rows[3][0] = 840
    with pytest.raises(InputDataError, match=r"line 5: B_COUNTRY 840 and B_COUNTRY_ALPHA 'DEU' name different"):
        read_wvs_csv(_write(tmp_path / "mix.csv", HEADER, rows), ["Q1"])
    rows = [[999, "XXA", 1, 1, 1, 1, 1], [998, "XXA", 2, 1, 1, 1, 1]]  # unknown country: consistency within file
    with pytest.raises(InputDataError, match="B_COUNTRY 998 and B_COUNTRY_ALPHA 'XXA'"):
        read_wvs_csv(_write(tmp_path / "xx.csv", HEADER, rows), ["Q1"])
    rows = _rows()
    rows[0][1] = ""
    with pytest.raises(InputDataError, match="line 2, column 'B_COUNTRY_ALPHA' is empty"):
        read_wvs_csv(_write(tmp_path / "noalpha.csv", HEADER, rows), ["Q1"])


def test_survey_weights_are_read_and_weight_the_shares(tmp_path):
    header = [*HEADER, "W_WEIGHT"]
    rows = [r + [w] for r, w in zip(_rows(4), [0.5, 1.5, 1.0, 1.0], strict=True)]
    rows[3][5] = -1  # don't know
    respondents = read_wvs_csv(_write(tmp_path / "w.csv", header, rows), ["Q1", "Q27"])
    assert [r.weight for r in respondents] == [0.5, 1.5, 1.0, 1.0]
    q1 = load_question_bank().get("Q1")
    weighted = distributions_from_respondents(respondents, [q1], "DEU", "w.csv", weights="wvs")["Q1"]
    assert weighted.shares == pytest.approx([0.5 / 3, 1.5 / 3, 1.0 / 3, 0.0])  # codes 1, 2, 3 valid
    assert weighted.missing_shares == {-1: pytest.approx(1.0 / 4.0)} and weighted.n_valid == 3
    plain = distributions_from_respondents(respondents, [q1], "DEU", "w.csv")["Q1"]
    assert plain.shares == pytest.approx([1 / 3, 1 / 3, 1 / 3, 0.0])
    assert respondent_weights(respondents) is None
    assert respondent_weights(respondents, "wvs").tolist() == [0.5, 1.5, 1.0, 1.0]
    with pytest.raises(InputDataError, match="weights: 'design' is not one of none, wvs"):
        respondent_weights(respondents, "design")
    rows[0][-1] = "inf"
    with pytest.raises(InputDataError, match="column 'W_WEIGHT': 'inf' is not a survey weight"):
        read_wvs_csv(_write(tmp_path / "w2.csv", header, rows), ["Q1"])
    with pytest.raises(InputDataError, match="one finite, non-negative weight per respondent"):
        distribution_from_codes("DEU", q1, [1, 2], "x", weights=[1.0])


def test_weighted_shares_match_the_independent_weighted_aggregate(shared_data):
    questions = load_question_bank().select("Q1,Q27,Q33")
    respondents = read_wvs_csv(shared_data / "wvs_found" / "microdata" / "dataspi_spy-playground_v5.0" / "MEX.csv",
                               [q.id for q in questions])
    weighted = distributions_from_respondents(respondents, questions, "MEX", "MEX.csv", weights="wvs")
    aggregate = pd.read_csv(
        shared_data / "wvs_found" / "aggregates" / "q1_q45_frequencies_from_microdata_58countries.csv")
    for q in questions:
        rows = aggregate[(aggregate.iso3 == "MEX") & (aggregate.qid == q.id) & (aggregate.code >= 0)]
        expected = [float(rows[rows.code == c].wpct_of_valid.iloc[0]) / 100 for c in q.codes]
        assert weighted[q.id].shares == pytest.approx(expected, abs=1e-6), q.id
        unweighted = [float(rows[rows.code == c].pct_of_valid.iloc[0]) / 100 for c in q.codes]
        assert weighted[q.id].shares != pytest.approx(unweighted, abs=1e-4)  # MEX weights do matter
    w = respondent_weights(respondents, "wvs")
    boot = M.two_way_bootstrap_weights(len(w), 3, 5, seed=0, persona_weights=w)
    assert boot.units.weights == "survey weights"


def test_profession_code_11_is_verbalised_not_dropped(shared_data):
    path = shared_data / "wvs_found" / "microdata" / "dataspi_spy-playground_v5.0" / "JPN.csv"
    code_11 = [r for r in read_wvs_csv(path, ["Q1"]) if r.demographics.get("Q281") == 11]
    assert len(code_11) == 48
    assert all("profession" in persona_from_respondent(r).fields for r in code_11)
