"""Regenerate src/clca/data/cultures/cultures.json from the reference data (a folder you name).

Usage: python scripts/build_culture_table.py --shared-data DIR
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from clca.cultures.build import build_culture_table
from clca.cultures.cards import CULTURE_TABLE_PATH
from clca.jsonl import write_json_atomic


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shared-data", type=Path, required=True, help="the reference data folder")
    args = parser.parse_args()
    shared = args.shared_data
    if not shared.is_dir():
        print(f"{shared}: not a folder — pass the reference data folder with --shared-data", file=sys.stderr)
        return 2
    table = build_culture_table(shared)
    write_json_atomic(CULTURE_TABLE_PATH, table)
    print(f"wrote {len(table['cultures'])} cultures to {CULTURE_TABLE_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
