"""Regenerate src/clca/data/cultures/cultures.json from the reference data (../shared/data).

Usage: python scripts/build_culture_table.py [--shared-data DIR]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from clca.cultures.build import build_culture_table
from clca.cultures.cards import CULTURE_TABLE_PATH
from clca.jsonl import write_json_atomic


def _default_shared_data() -> Path | None:
    """Development default: `CLCA_SHARED_DATA`, else ../shared/data beside the checkout (never used by the package)."""
    env = os.environ.get("CLCA_SHARED_DATA")
    candidate = Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"
    return candidate if candidate.is_dir() else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shared-data", type=Path, default=None, help="reference data folder")
    args = parser.parse_args()
    shared = args.shared_data or _default_shared_data()
    if shared is None:
        print("reference data not found: pass --shared-data or set CLCA_SHARED_DATA", file=sys.stderr)
        return 2
    table = build_culture_table(shared)
    write_json_atomic(CULTURE_TABLE_PATH, table)
    print(f"wrote {len(table['cultures'])} cultures to {CULTURE_TABLE_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
