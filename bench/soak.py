"""The soak for longer: the same code as tests/soak/test_soak.py, for N minutes.

    python bench/soak.py --minutes 5
    python bench/soak.py --minutes 30 --seed 7 --keep /tmp/soak   # keep logs and spools

It prints the figures (events acknowledged, stored, lost, purged, kills survived, exports
recorded, ...) and every problem found; the exit code is 1 when a promise was broken.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, bench/ is first on sys.path; the project root must come before it.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from tests.soak.harness import SoakConfig, run_soak  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=SoakConfig.seed)
    parser.add_argument("--keep", type=Path, help="work folder to keep (logs, spools)")
    args = parser.parse_args()
    if args.minutes <= 0:
        parser.error(f"--minutes must be greater than 0, got: {args.minutes}")
    config = SoakConfig(seconds=args.minutes * 60, seed=args.seed, work_dir=args.keep)
    print(f"soak: {args.minutes:g} minute(s) of activity, seed {args.seed}", flush=True)
    result = run_soak(config)
    print("\n".join(result.lines()))
    return 1 if result.problems else 0


if __name__ == "__main__":
    sys.exit(main())
