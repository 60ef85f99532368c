"""Rebuild `src/clca/data/wvs/human_distributions.json` from the reference data (a folder you name).

Usage: .venv/bin/python scripts/build_wvs_tables.py --shared PATH
The recipe lives in `clca.evaluation.wvs_tables.derive_tables`; tests/test_wvs_data.py checks the bundled file
is exactly what this produces.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from clca.evaluation.human import BUNDLED_TABLES_PATH
from clca.evaluation.wvs_tables import derive_tables, serialise_tables


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, required=True, help="the reference data folder")
    args = parser.parse_args()
    shared = args.shared
    if not shared.is_dir():
        print("reference data folder not found — pass --shared PATH", file=sys.stderr)
        return 2
    document = derive_tables(Path(shared))
    BUNDLED_TABLES_PATH.write_text(serialise_tables(document), encoding="utf-8")
    social = document["tables"]["social-values"]
    print(f"wrote {BUNDLED_TABLES_PATH}: social-values {len(social)} countries, q50 {len(document['tables']['q50'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
