"""Personas: WVS respondents' demographic codes → words for the system prompt.

Labels are the WVS wave 7 codebook value labels (checked against the SPSS value labels shipped with the
reference data, `moreh_soc2069_subset/*_value_labels.json`, for Q260, Q263, Q273, Q275, Q279, Q287, H_URBRURAL;
Q281 and H_SETTLEMENT from the WVS-7 master questionnaire; Q281 code 11, absent from it, gets a neutral
label). Negative codes (missing) leave the field out.
Region (`N_REGION_ISO`) is not verbalised: its codes need per-country ISO 3166-2 tables we do not ship; the
settlement type stands in for it.

Country-only personas (bundled tables or files without demographics) carry just the country and are labelled
`country_only=True` in every record.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from clca.countries import country_name
from clca.evaluation.survey import Respondent

SEX = {1: "male", 2: "female"}
BORN = {1: "born in this country", 2: "an immigrant to this country (born outside it)"}
MARITAL = {1: "married", 2: "living together as married", 3: "divorced", 4: "separated", 5: "widowed",
           6: "single"}
EDUCATION = {
    0: "early childhood education or no education", 1: "primary education", 2: "lower secondary education",
    3: "upper secondary education", 4: "post-secondary non-tertiary education", 5: "short-cycle tertiary education",
    6: "a bachelor's degree or equivalent", 7: "a master's degree or equivalent", 8: "a doctoral degree or equivalent",
}
EMPLOYMENT = {
    1: "employed full time (30 hours a week or more)", 2: "employed part time (less than 30 hours a week)",
    3: "self-employed", 4: "retired or pensioned", 5: "a homemaker, not otherwise employed", 6: "a student",
    7: "unemployed", 8: "in another employment situation", 9: "disabled", 10: "in military service",
}
PROFESSION = {
    0: "never had a job",
    1: "professional and technical (e.g. doctor, teacher, engineer, artist, accountant, nurse)",
    2: "higher administrative (e.g. banker, executive in big business, high government official, union official)",
    3: "clerical (e.g. secretary, clerk, office manager, civil servant, bookkeeper)",
    4: "sales (e.g. sales manager, shop owner, shop assistant, insurance agent, buyer)",
    5: "service (e.g. restaurant owner, police officer, waitress, barber, caretaker)",
    6: "skilled worker (e.g. foreman, motor mechanic, printer, seamstress, electrician)",
    7: "semi-skilled worker (e.g. bricklayer, bus driver, cannery worker, carpenter, baker)",
    8: "unskilled worker (e.g. labourer, porter, unskilled factory worker, cleaner)",
    9: "farm worker (e.g. farm labourer, tractor driver)",
    10: "farm owner or farm manager",
    # Not on the master questionnaire's list (0-10), yet in the data (48 JPN, 375 IND respondents); its codebook
    # meaning is unknown to us, so it is verbalised neutrally instead of being dropped from the persona.
    11: "another occupational group (not on the survey's list)",
}
SOCIAL_CLASS = {1: "upper class", 2: "upper middle class", 3: "lower middle class", 4: "working class",
                5: "lower class"}
SETTLEMENT = {1: "the capital city", 2: "a regional centre", 3: "a district centre",
              4: "another city or town (not a regional or district centre)", 5: "a village"}
URBAN_RURAL = {1: "an urban area", 2: "a rural area"}
AGE_BAND = {1: "16-24", 2: "25-34", 3: "35-44", 4: "45-54", 5: "55-64", 6: "65 or older"}


class Persona(BaseModel):
    """What the system prompt says about one (real or country-only) respondent."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str
    country: str  # ISO3
    country_name: str
    country_only: bool
    fields: dict[str, str]  # ordered: label -> words
    weight: float = 1.0  # the respondent's survey weight (W_WEIGHT); used only with `weights: wvs`


def _label(table: dict[int, str], code: int | None) -> str | None:
    return table.get(code) if code is not None and code >= 0 else None


def persona_from_respondent(respondent: Respondent) -> Persona:
    d = respondent.demographics
    name = country_name(respondent.country)
    fields: dict[str, str] = {"country": name}
    settlement = _label(SETTLEMENT, d.get("H_SETTLEMENT")) or _label(URBAN_RURAL, d.get("H_URBRURAL"))
    if settlement:
        fields["settlement"] = settlement
    if sex := _label(SEX, d.get("Q260")):
        fields["sex"] = sex
    age = d.get("Q262")
    if age is not None and age >= 0:
        fields["age"] = f"{age} years old"
    elif band := _label(AGE_BAND, d.get("X003R")):
        fields["age"] = f"{band} years old"
    if born := _label(BORN, d.get("Q263")):
        fields["born in country"] = born
    if marital := _label(MARITAL, d.get("Q273")):
        fields["marital status"] = marital
    household = d.get("Q270")
    if household is not None and household > 0:
        fields["household size"] = f"{household} {'person' if household == 1 else 'people'}"
    if education := _label(EDUCATION, d.get("Q275")):
        fields["education"] = education
    if profession := _label(PROFESSION, d.get("Q281")):
        fields["profession"] = profession
    if employment := _label(EMPLOYMENT, d.get("Q279")):
        fields["employment"] = employment
    if social_class := _label(SOCIAL_CLASS, d.get("Q287")):
        fields["social class"] = social_class
    return Persona(id=respondent.id, country=respondent.country, country_name=name,
                   country_only=not respondent.demographics, fields=fields if respondent.demographics else
                   {"country": name})


def country_only_persona(country: str, persona_id: str = "country") -> Persona:
    name = country_name(country)
    return Persona(id=persona_id, country=country, country_name=name, country_only=True, fields={"country": name})
