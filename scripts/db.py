"""The metadata database's operator commands (docs/database.md). They read the same
configuration as the service (config/default.yaml, DATABASE_URL, CHATTERBOX_*, STORAGE_*),
so they act on exactly the database and store the service uses:

    .venv/bin/python scripts/db.py upgrade      # apply the migrations the database lacks (the service also does at start)
    .venv/bin/python scripts/db.py current      # the migration the database is at, and the newest this code knows
    .venv/bin/python scripts/db.py reindex      # rebuild voices and outputs from the records in storage
    .venv/bin/python scripts/db.py revision -m "what changes"   # developers: a new migration from db/schema.py

In the container image: `python scripts/db.py upgrade` (a Kubernetes Job, or an init
container, for operators who migrate before rolling out). Each prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from config import get_settings  # noqa: E402
from db import Database, DatabaseUnavailableError  # noqa: E402
from db.migrate import current_revision, head_revision, new_revision, upgrade  # noqa: E402
from maintenance.reindex import reindex  # noqa: E402
from outputs.store import OutputStore  # noqa: E402
from storage import StorageError, create_storage  # noqa: E402
from voices.store import VoiceStore  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("upgrade", help="apply every migration the database lacks")
    commands.add_parser("current", help="the database's migration and the newest one")
    commands.add_parser("reindex", help="rebuild the voice and output rows from storage (migrates first)")
    revision = commands.add_parser("revision", help="a new migration file from the difference between db/schema.py and the database")
    revision.add_argument("-m", "--message", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s", stream=sys.stderr)
    settings = get_settings()
    database = Database.from_settings(settings.database, settings.storage.dir)
    try:
        if args.command == "upgrade":
            result: dict = {"revision": upgrade(database)}
        elif args.command == "current":
            result = {"revision": current_revision(database), "head": head_revision()}
        elif args.command == "revision":
            new_revision(database, args.message)
            result = {"created": args.message}
        else:
            upgrade(database)
            storage = create_storage(settings.storage)
            result = reindex(database, VoiceStore(storage, settings.voices.read_workers), OutputStore(storage, settings.voices.read_workers)).model_dump()
    except DatabaseUnavailableError as exc:
        logging.error("the database cannot be reached (%s): %s", database.location, exc)
        return 2
    except StorageError as exc:
        logging.error("the store cannot be read: %s", exc)
        return 2
    finally:
        database.close()
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
