"""Regenerate src/clca/data/cultures/cultures.json from the reference data (../shared/data).

Usage: python scripts/build_culture_table.py [--shared-data DIR]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from clca.cultures.build import build_culture_table
from clca.cultures.cards import CULTURE_TABLE_PATH
from clca.jsonl import write_json_atomic
from clca.paths import shared_data_dir


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shared-data", type=Path, default=None, help="reference data folder")
    args = parser.parse_args()
    shared = args.shared_data or shared_data_dir()
    if shared is None:
        print("reference data not found: pass --shared-data or set CLCA_SHARED_DATA", file=sys.stderr)
        return 2
    table = build_culture_table(shared)
    write_json_atomic(CULTURE_TABLE_PATH, table)
    print(f"wrote {len(table['cultures'])} cultures to {CULTURE_TABLE_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
