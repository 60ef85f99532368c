"""ISO 3166-1 alpha-3 codes of the WVS wave 7 societies we have data for, and their English names."""

from __future__ import annotations

from clca.errors import ConfigError

COUNTRY_NAMES: dict[str, str] = {
    "AND": "Andorra", "ARG": "Argentina", "ARM": "Armenia", "AUS": "Australia", "BGD": "Bangladesh",
    "BOL": "Bolivia", "BRA": "Brazil", "CAN": "Canada", "CHL": "Chile", "CHN": "China", "COL": "Colombia",
    "CYP": "Cyprus", "CZE": "Czechia", "DEU": "Germany", "ECU": "Ecuador", "EGY": "Egypt", "ETH": "Ethiopia",
    "GBR": "Great Britain", "GRC": "Greece", "GTM": "Guatemala", "HKG": "Hong Kong", "IDN": "Indonesia",
    "IND": "India", "IRN": "Iran", "IRQ": "Iraq", "JOR": "Jordan", "JPN": "Japan", "KAZ": "Kazakhstan",
    "KEN": "Kenya", "KGZ": "Kyrgyzstan", "KOR": "South Korea", "LBN": "Lebanon", "LBY": "Libya", "MAC": "Macao",
    "MAR": "Morocco", "MDV": "Maldives", "MEX": "Mexico", "MMR": "Myanmar", "MNG": "Mongolia", "MYS": "Malaysia",
    "NGA": "Nigeria", "NIC": "Nicaragua", "NIR": "Northern Ireland", "NLD": "Netherlands", "NZL": "New Zealand",
    "PAK": "Pakistan", "PER": "Peru", "PHL": "Philippines", "PRI": "Puerto Rico", "ROU": "Romania",
    "RUS": "Russia", "SGP": "Singapore", "SRB": "Serbia", "SVK": "Slovakia", "THA": "Thailand",
    "TJK": "Tajikistan", "TUN": "Tunisia", "TUR": "Turkey", "TWN": "Taiwan", "UKR": "Ukraine", "URY": "Uruguay",
    "USA": "United States", "VEN": "Venezuela", "VNM": "Vietnam", "ZWE": "Zimbabwe",
}
# Convenience aliases users type; "UK" means the WVS Great Britain sample.
_ALIASES = {"UK": "GBR", "GB": "GBR", "US": "USA", "DE": "DEU", "CN": "CHN", "JP": "JPN", "MX": "MEX"}


def normalise_country(code: str) -> str:
    iso = _ALIASES.get(code.strip().upper(), code.strip().upper())
    if iso not in COUNTRY_NAMES:
        raise ConfigError(f"culture {code!r}: unknown country — use an ISO 3166 alpha-3 code such as DEU, GBR, CHN")
    return iso


def country_name(iso3: str) -> str:
    return COUNTRY_NAMES.get(iso3, iso3)
