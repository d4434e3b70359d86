"""slotwise_testing: what every end-to-end test of Slotwise shares.

A test file finds this package by a path relative to itself, then imports
the local stack (the `localstack` package at the repository root) through it:

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))
    import slotwise_testing as st          # st.ls is the localstack package

  runner     run_test_file / run_unittest (last line `N passed, M failed`),
             StackTestCase (one Stack per TestCase class), tests_failed_so_far
  protobuf   just enough protobuf wire format for raw-MQTT tests (varints,
             fields, a decoder to {field: [values]})
  and, from localstack.processes: free_port (the port picker), stop_popen /
  stop_processes (stopping by pid), wait_until.

Python 3 standard library only.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import localstack as ls  # noqa: E402
from localstack.processes import (free_port, port_open, stop_popen, stop_processes,  # noqa: E402
                                  wait_until)

from . import protobuf  # noqa: E402
from .runner import StackTestCase, run_test_file, run_unittest, tests_failed_so_far  # noqa: E402


def readable_copy(path: Path, into: Path) -> Path:
    """A copy of `path` in `into` (made 0755) that any user can read (0644).
    For a broker started from a deployment config, without `user root`:
    mosquitto drops to user mosquitto before it loads the plugin, and the
    build tree (a clone in a 0700 temp dir, say) may be closed to that user."""
    import shutil
    into.mkdir(parents=True, exist_ok=True)
    into.chmod(0o755)
    copy = into / Path(path).name
    shutil.copyfile(path, copy)
    copy.chmod(0o644)
    return copy


def load_fleet_driver():
    """fleet/fleet.py (the live fleet and storm driver) as a module."""
    path = REPO / "fleet" / "fleet.py"
    spec = importlib.util.spec_from_file_location("slotwise_fleet_driver", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


__all__ = ["REPO", "ls", "protobuf", "free_port", "port_open", "stop_popen", "stop_processes",
           "wait_until", "StackTestCase", "run_test_file", "run_unittest", "tests_failed_so_far",
           "load_fleet_driver", "readable_copy"]
