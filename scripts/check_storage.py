"""Check the configured store for broken voices, orphans and leftovers; repair with --repair.

Reads the same configuration as the service (config/default.yaml, CHATTERBOX_* and the
STORAGE_BACKEND / STORAGE_DIR / S3_* / DATABASE_URL variables), so it checks exactly what
the service uses (a repair that removes a voice or an output removes its database row too):

    .venv/bin/python scripts/check_storage.py                 # report (JSON), exit 1 if anything is found
    .venv/bin/python scripts/check_storage.py --repair        # and fix what it found

See docs/troubleshooting.md for what each finding means.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from config import get_settings  # noqa: E402
from db import Database, DatabaseUnavailableError  # noqa: E402
from maintenance.storage_check import check_storage  # noqa: E402
from storage import StorageError, create_storage  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repair", action="store_true", help="fix what is found (each finding says how)")
    parser.add_argument(
        "--min-age-seconds", type=float, default=600.0,
        help="leave out orphans and temp files younger than this: writes in progress (default 600; 0 when nothing is running)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s", stream=sys.stderr)
    settings = get_settings()
    database = Database.from_settings(settings.database, settings.storage.dir)
    try:
        report = check_storage(create_storage(settings.storage), database=database, repair=args.repair, min_age_seconds=args.min_age_seconds)
    except StorageError as exc:
        logging.error("the store cannot be read: %s", exc)
        return 2
    except DatabaseUnavailableError as exc:
        logging.error("the database cannot be reached (%s): %s", database.location, exc)
        return 2
    finally:
        database.close()
    sys.stdout.write(report.model_dump_json(indent=2) + "\n")
    return 0 if report.clean or args.repair else 1


if __name__ == "__main__":
    sys.exit(main())
