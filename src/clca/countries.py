"""The one country registry: ISO 3166-1 alpha-3 codes clca knows (WVS wave 7 societies and every culture card)
and the English name used in every prompt, card and report.

"GBR" is the United Kingdom; its WVS wave 7 sample covers Great Britain (Northern Ireland is the separate sample
NIR), which the survey metadata records, so prompts say "United Kingdom" as the paper's culture does.
"""

from __future__ import annotations

from clca.errors import ConfigError

COUNTRY_NAMES: dict[str, str] = {
    "AND": "Andorra", "ARG": "Argentina", "ARM": "Armenia", "AUS": "Australia", "BGD": "Bangladesh",
    "BOL": "Bolivia", "BRA": "Brazil", "CAN": "Canada", "CHL": "Chile", "CHN": "China", "COL": "Colombia",
    "CYP": "Cyprus", "CZE": "Czechia", "DEU": "Germany", "ECU": "Ecuador", "EGY": "Egypt", "ETH": "Ethiopia",
    "GBR": "United Kingdom", "GRC": "Greece", "GTM": "Guatemala", "HKG": "Hong Kong", "IDN": "Indonesia",
    "IND": "India", "IRN": "Iran", "IRQ": "Iraq", "JOR": "Jordan", "JPN": "Japan", "KAZ": "Kazakhstan",
    "KEN": "Kenya", "KGZ": "Kyrgyzstan", "KOR": "South Korea", "LBN": "Lebanon", "LBY": "Libya", "MAC": "Macao",
    "MAR": "Morocco", "MDV": "Maldives", "MEX": "Mexico", "MMR": "Myanmar", "MNG": "Mongolia", "MYS": "Malaysia",
    "NGA": "Nigeria", "NIC": "Nicaragua", "NIR": "Northern Ireland", "NLD": "Netherlands", "NZL": "New Zealand",
    "PAK": "Pakistan", "PER": "Peru", "PHL": "Philippines", "PRI": "Puerto Rico", "ROU": "Romania",
    "RUS": "Russia", "SGP": "Singapore", "SRB": "Serbia", "SVK": "Slovakia", "THA": "Thailand",
    "TJK": "Tajikistan", "TUN": "Tunisia", "TUR": "Turkey", "TWN": "Taiwan", "UKR": "Ukraine", "URY": "Uruguay",
    "USA": "United States", "VEN": "Venezuela", "VNM": "Vietnam", "ZWE": "Zimbabwe",
    # Culture cards only (Hofstede data, no WVS wave 7 sample bundled):
    "AUT": "Austria", "BEL": "Belgium", "BGR": "Bulgaria", "CHE": "Switzerland", "DNK": "Denmark",
    "ESP": "Spain", "EST": "Estonia", "FIN": "Finland", "FRA": "France", "HRV": "Croatia", "HUN": "Hungary",
    "IRL": "Ireland", "ITA": "Italy", "LTU": "Lithuania", "LUX": "Luxembourg", "LVA": "Latvia", "MLT": "Malta",
    "NOR": "Norway", "POL": "Poland", "PRT": "Portugal", "SLV": "El Salvador", "SVN": "Slovenia", "SWE": "Sweden",
    "TTO": "Trinidad and Tobago",
}
# Convenience aliases users type.
_ALIASES = {"UK": "GBR", "GB": "GBR", "US": "USA", "DE": "DEU", "CN": "CHN", "JP": "JPN", "MX": "MEX"}


def normalise_country(code: str) -> str:
    iso = _ALIASES.get(code.strip().upper(), code.strip().upper())
    if iso not in COUNTRY_NAMES:
        raise ConfigError(f"culture {code!r}: unknown country — use an ISO 3166 alpha-3 code such as DEU, GBR, CHN")
    return iso


def country_name(iso3: str) -> str:
    return COUNTRY_NAMES.get(iso3, iso3)
