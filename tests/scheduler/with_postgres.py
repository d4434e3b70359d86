#!/usr/bin/env python3
"""Runs a test program against a throw-away PostgreSQL 15 (localstack.postgres):
starts the server on a free loopback port, passes its URL in
SLOTWISE_TEST_PG_URL, stops the server by its pid. Skips (exit 0, saying so)
only when the PostgreSQL binaries are missing.

    with_postgres.py -- <program> [args...]
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: localstack
from localstack import postgres  # noqa: E402


def main() -> int:
    argv = sys.argv[1:]
    if argv and argv[0] == "--":
        argv = argv[1:]
    why = postgres.available()
    if why:
        print(f"SKIPPED: {why}")
        return 0
    pg = postgres.Postgres(Path(tempfile.mkdtemp(prefix="slotwise-pg-")))
    try:
        url = pg.start()
        print(f"postgresql at {url}", flush=True)
        return subprocess.run(argv, env={**os.environ, "SLOTWISE_TEST_PG_URL": url}).returncode
    finally:
        pg.cleanup()


if __name__ == "__main__":
    sys.exit(main())
