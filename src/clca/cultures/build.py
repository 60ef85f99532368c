"""Build the bundled culture table from the reference data (Hofstede 6-D matrix + IVS cultural-map scores).

`scripts/build_culture_table.py` calls `build_culture_table()` and writes `clca/data/cultures/cultures.json`;
`tests/test_cultures.py` re-derives the table from the reference data and requires an exact match.

Everything hand-written lives in `COUNTRIES` below: the mapping of Hofstede's own 3-letter codes (GER, CHI, SLV …)
and of the IVS lowercase English keys to ISO 3166 alpha-3, each country's English name and main language(s), and
(for the paper's five cultures and the WVS reference countries only) a few common given/family names.
Each Hofstede code was checked by hand against the country name in the matrix. Beware of collisions with ISO:
Hofstede `SLV` is Slovenia (ISO SVN) while ISO `SLV` is El Salvador (Hofstede `SAL`); Hofstede `IND` is India,
`IDO` Indonesia, `IRA` Iran, `MAL` Malaysia, `MLT` Malta, `SIN` Singapore, `TAI` Taiwan.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from clca.errors import InputDataError

HOFSTEDE_FILE = "hofstede/6-dimensions-for-website-2015-08-16.csv"
IVS_FILE = "wvs_found/cultural_map/open_numbers_ivs/ivs_tradagg_survsagg_with_map_axes.csv"

# Column in the Hofstede matrix → key in the culture card (`ltowvs` is the WVS-based long-term orientation).
HOFSTEDE_COLUMNS = {"pdi": "pdi", "idv": "idv", "mas": "mas", "uai": "uai", "lto": "ltowvs", "ivr": "ivr"}

SOURCES = {
    "hofstede": (
        "Hofstede 6-D dimension data matrix, version 2015-08-16 (geerthofstede.com, free for research use); "
        "G. Hofstede, G.J. Hofstede, M. Minkov (2010), Cultures and Organizations, 3rd ed. "
        "Hofstede's country codes mapped to ISO 3166 alpha-3 by hand. lto = the matrix's 'ltowvs' column."
    ),
    "inglehart_welzel": (
        "Integrated Values Surveys (EVS/WVS) country-year means of the TradAgg and SurvSAgg factor scores, via "
        "open-numbers/ddf--open_numbers--integrated_values_surveys_indicators (commit 4cfde16b). "
        "secular_rational = TradAgg; self_expression = -SurvSAgg (SurvSAgg > 0 means survival values). "
        "Latest year per country. These are means of individual-level scores, not the rescaled coordinates "
        "printed on the official WVS cultural map: rank order matches the map, absolute values do not."
    ),
    "names": (
        "Given and family names: hand-picked common names from general knowledge (not frequency statistics), "
        "for the paper's five cultures and the WVS reference countries only; prompt inspiration, not data."
    ),
}


@dataclass(frozen=True)
class Country:
    code: str  # ISO 3166 alpha-3
    hofstede_code: str | None  # Hofstede's own code in the matrix
    ivs_keys: tuple[str, ...]  # keys in the IVS files (some countries appear under two names)
    name: str
    languages: tuple[str, ...]
    given_names_female: tuple[str, ...] = ()
    given_names_male: tuple[str, ...] = ()
    family_names: tuple[str, ...] = ()
    family_name_first: bool = False  # names are written family name first (CHN, JPN, KOR)
    extra: dict = field(default_factory=dict)


C = Country
# Every country with all six Hofstede dimensions (regions such as "Arab countries" or "Africa East" are left out),
# which includes the paper's five cultures and the eight WVS reference countries (BGD BRA CHN DEU KOR MEX TUR USA).
COUNTRIES: tuple[Country, ...] = (
    C("ARG", "ARG", ("argentina",), "Argentina", ("Spanish",)),
    C("AUS", "AUL", ("australia",), "Australia", ("English",)),
    C("AUT", "AUT", ("austria",), "Austria", ("German",)),
    C("BGD", "BAN", ("bangladesh",), "Bangladesh", ("Bengali",),
      ("Fatema", "Ayesha", "Nasrin", "Shirin", "Taslima"),
      ("Mohammad", "Abdul", "Rahim", "Karim", "Rafiq"),
      ("Hossain", "Islam", "Rahman", "Ahmed", "Khan", "Chowdhury")),
    C("BEL", "BEL", ("belgium",), "Belgium", ("Dutch", "French", "German")),
    C("BRA", "BRA", ("brazil",), "Brazil", ("Portuguese",),
      ("Maria", "Ana", "Juliana", "Francisca", "Beatriz"),
      ("João", "José", "Pedro", "Lucas", "Gabriel"),
      ("Silva", "Santos", "Oliveira", "Souza", "Rodrigues", "Ferreira", "Alves", "Pereira")),
    C("BGR", "BUL", ("bulgaria",), "Bulgaria", ("Bulgarian",)),
    C("CAN", "CAN", ("canada",), "Canada", ("English", "French")),
    C("CHL", "CHL", ("chile",), "Chile", ("Spanish",)),
    C("CHN", "CHI", ("china",), "China", ("Mandarin Chinese",),
      ("Fang", "Jing", "Li", "Min", "Yan", "Xiuying"),
      ("Wei", "Lei", "Jun", "Hao", "Qiang"),
      ("Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Huang", "Zhao"), True),
    C("COL", "COL", ("colombia",), "Colombia", ("Spanish",)),
    C("HRV", "CRO", ("croatia",), "Croatia", ("Croatian",)),
    C("CZE", "CZE", ("czechia",), "Czechia", ("Czech",)),
    C("DNK", "DEN", ("denmark",), "Denmark", ("Danish",)),
    C("SLV", "SAL", (), "El Salvador", ("Spanish",)),
    C("EST", "EST", ("estonia",), "Estonia", ("Estonian",)),
    C("FIN", "FIN", ("finland",), "Finland", ("Finnish", "Swedish")),
    C("FRA", "FRA", ("france",), "France", ("French",)),
    C("DEU", "GER", ("germany",), "Germany", ("German",),
      ("Anna", "Julia", "Katharina", "Sabine", "Monika"),
      ("Thomas", "Michael", "Andreas", "Stefan", "Lukas"),
      ("Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker")),
    C("GBR", "GBR", ("great_britain",), "United Kingdom", ("English",),
      ("Olivia", "Amelia", "Emily", "Sophie", "Charlotte"),
      ("Oliver", "George", "Harry", "Jack", "James"),
      ("Smith", "Jones", "Williams", "Taylor", "Brown", "Davies", "Evans", "Wilson")),
    C("GRC", "GRE", ("greece",), "Greece", ("Greek",)),
    C("HKG", "HOK", ("hong_kong_sar",), "Hong Kong", ("Cantonese", "English")),
    C("HUN", "HUN", ("hungary",), "Hungary", ("Hungarian",)),
    C("IND", "IND", ("india",), "India", ("Hindi", "English")),
    C("IDN", "IDO", ("indonesia",), "Indonesia", ("Indonesian",)),
    C("IRN", "IRA", ("iran",), "Iran", ("Persian",)),
    C("IRL", "IRE", ("ireland",), "Ireland", ("English", "Irish")),
    C("ITA", "ITA", ("italy",), "Italy", ("Italian",)),
    C("JPN", "JPN", ("japan",), "Japan", ("Japanese",),
      ("Yoko", "Keiko", "Akiko", "Sakura", "Yui"),
      ("Hiroshi", "Takashi", "Kenji", "Haruto", "Daiki"),
      ("Sato", "Suzuki", "Takahashi", "Tanaka", "Watanabe", "Ito", "Yamamoto", "Nakamura"), True),
    C("KOR", "KOR", ("south_korea",), "South Korea", ("Korean",),
      ("Seo-yeon", "Ji-woo", "Soo-jin", "Eun-ji", "Min-seo"),
      ("Min-jun", "Ji-hoon", "Hyun-woo", "Young-ho", "Dong-hyun"),
      ("Kim", "Lee", "Park", "Choi", "Jung", "Kang", "Cho", "Yoon"), True),
    C("LVA", "LAT", ("latvia",), "Latvia", ("Latvian",)),
    C("LTU", "LIT", ("lithuania",), "Lithuania", ("Lithuanian",)),
    C("LUX", "LUX", ("luxembourg",), "Luxembourg", ("Luxembourgish", "French", "German")),
    C("MYS", "MAL", ("malaysia",), "Malaysia", ("Malay",)),
    C("MLT", "MLT", ("malta",), "Malta", ("Maltese", "English")),
    C("MEX", "MEX", ("mexico",), "Mexico", ("Spanish",),
      ("María", "Guadalupe", "Juana", "Fernanda", "Sofía"),
      ("José", "Juan", "Luis", "Miguel", "Alejandro"),
      ("Hernández", "García", "Martínez", "López", "González", "Rodríguez", "Pérez", "Sánchez")),
    C("MAR", "MOR", ("morocco",), "Morocco", ("Arabic", "Tamazight")),
    C("NLD", "NET", ("netherlands",), "Netherlands", ("Dutch",)),
    C("NZL", "NZL", ("new_zealand",), "New Zealand", ("English", "Māori")),
    C("NOR", "NOR", ("norway",), "Norway", ("Norwegian",)),
    C("PAK", "PAK", ("pakistan",), "Pakistan", ("Urdu", "English")),
    C("PER", "PER", ("peru",), "Peru", ("Spanish", "Quechua")),
    C("PHL", "PHI", ("philippines",), "Philippines", ("Filipino", "English")),
    C("POL", "POL", ("poland",), "Poland", ("Polish",)),
    C("PRT", "POR", ("portugal",), "Portugal", ("Portuguese",)),
    C("ROU", "ROM", ("romania",), "Romania", ("Romanian",)),
    C("RUS", "RUS", ("russia", "russian_federation"), "Russia", ("Russian",)),
    C("SRB", "SER", ("serbia",), "Serbia", ("Serbian",)),
    C("SGP", "SIN", ("singapore",), "Singapore", ("English", "Malay", "Mandarin Chinese", "Tamil")),
    C("SVK", "SLK", ("slovakia", "slovak_republic"), "Slovakia", ("Slovak",)),
    C("SVN", "SLV", ("slovenia",), "Slovenia", ("Slovene",)),
    C("ESP", "SPA", ("spain",), "Spain", ("Spanish",)),
    C("SWE", "SWE", ("sweden",), "Sweden", ("Swedish",)),
    C("CHE", "SWI", ("switzerland",), "Switzerland", ("German", "French", "Italian")),
    C("TWN", "TAI", ("taiwan_roc",), "Taiwan", ("Mandarin Chinese",)),
    C("THA", "THA", ("thailand",), "Thailand", ("Thai",)),
    C("TTO", "TRI", ("trinidad_and_tobago",), "Trinidad and Tobago", ("English",)),
    C("TUR", "TUR", ("turkey",), "Turkey", ("Turkish",),
      ("Fatma", "Ayşe", "Emine", "Hatice", "Zeynep"),
      ("Mehmet", "Mustafa", "Ahmet", "Ali", "Hüseyin"),
      ("Yılmaz", "Kaya", "Demir", "Şahin", "Çelik", "Yıldız", "Yıldırım", "Öztürk")),
    C("USA", "USA", ("united_states",), "United States", ("English",),
      ("Mary", "Jennifer", "Jessica", "Ashley", "Emily"),
      ("James", "Michael", "Robert", "David", "Christopher"),
      ("Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis")),
    C("URY", "URU", ("uruguay",), "Uruguay", ("Spanish",)),
    C("VEN", "VEN", ("venezuela",), "Venezuela", ("Spanish",)),
    C("VNM", "VIE", ("vietnam",), "Vietnam", ("Vietnamese",)),
)


def _read_hofstede(path: Path) -> dict[str, dict[str, int | None]]:
    if not path.is_file():
        raise InputDataError(f"{path}: Hofstede matrix not found — pass the reference data folder "
                             "(scripts/build_culture_table.py --shared-data DIR)")
    rows: dict[str, dict[str, int | None]] = {}
    with open(path, encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh, delimiter=";"):
            scores: dict[str, int | None] = {}
            for key, column in HOFSTEDE_COLUMNS.items():
                value = row[column].strip()
                scores[key] = None if value == "#NULL!" else int(value)
            rows[row["ctr"].strip()] = scores
    return rows


def _read_ivs(path: Path) -> dict[str, list[tuple[int, float, float]]]:
    """geo key → [(year, self_expression, secular_rational)]."""
    if not path.is_file():
        raise InputDataError(f"{path}: IVS cultural-map file not found — pass the reference data folder "
                             "(scripts/build_culture_table.py --shared-data DIR)")
    rows: dict[str, list[tuple[int, float, float]]] = {}
    with open(path, encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            rows.setdefault(row["geo"], []).append(
                (int(row["year"]), float(row["map_x_self_expression"]), float(row["map_y_secular_rational"]))
            )
    return rows


def build_culture_table(shared_data: Path) -> dict:
    """The bundled culture table as a JSON-ready dict (deterministic: same input → same output)."""
    hofstede = _read_hofstede(shared_data / HOFSTEDE_FILE)
    ivs = _read_ivs(shared_data / IVS_FILE)
    cultures = []
    for country in COUNTRIES:
        scores = hofstede.get(country.hofstede_code) if country.hofstede_code else None
        if country.hofstede_code and scores is None:
            raise InputDataError(f"{HOFSTEDE_FILE}: no row '{country.hofstede_code}' for {country.code}")
        points = [(year, x, y, key) for key in country.ivs_keys for (year, x, y) in ivs.get(key, [])]
        inglehart_welzel = None
        if points:
            year, x, y, key = max(points, key=lambda p: (p[0], p[3]))  # latest year; ties broken by key
            inglehart_welzel = {"year": year, "self_expression": round(x, 4), "secular_rational": round(y, 4),
                                "ivs_key": key}
        entry = {
            "code": country.code,
            "name": country.name,
            "languages": list(country.languages),
            "hofstede_code": country.hofstede_code,
            "hofstede": scores,
            "inglehart_welzel": inglehart_welzel,
        }
        if country.family_names:
            entry["names"] = {
                "female": list(country.given_names_female),
                "male": list(country.given_names_male),
                "family": list(country.family_names),
                "family_name_first": country.family_name_first,
            }
        cultures.append(entry)
    return {"sources": SOURCES, "cultures": cultures}
