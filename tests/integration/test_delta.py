#!/usr/bin/env python3
"""End to end: a version with a zstd patch-from delta (schemas/README.md "Delta artifacts").

Real broker + plugin, scheduler, CLI (`version add --delta-from`), nginx nodes
and two slotwise-agent processes:

  DeltaCampaign
    - D001 runs the delta's base version and keeps its image (`image_path`):
      nginx's log shows it fetched only the delta's path, far fewer bytes
      than the full image, and it installed the full image byte for byte
      (its image_path now holds it too); its status detail says "from a delta".
    - D002 runs another version: it fetched the full image and installed the
      same bytes.

    python3 tests/integration/test_delta.py --build-dir build [--keep]

The last line is `N passed, M failed`; the exit code is 0 only if all passed.
"""

from __future__ import annotations

import argparse
import random
import sys
import unittest
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))  # tests/support
import slotwise_testing as st  # noqa: E402
from slotwise_testing import ls  # noqa: E402

OPTS = argparse.Namespace(build_dir=str(REPO / "build"), slot_seconds=2.0, keep=False)
BASE, TARGET, OTHER = ls.OLD_VERSION, ls.NEW_VERSION, "0.9.0"
SIZE = 2 * 1024 * 1024


def outcomes(report: dict) -> dict[str, str]:
    return {t["terminal_id"]: t.get("outcome", "OUTCOME_PENDING") for t in report.get("terminals", [])}


class DeltaCampaign(st.StackTestCase, unittest.TestCase):
    options = OPTS

    @classmethod
    def set_up_stack(cls) -> None:
        s = cls.stack
        s.start()
        s.add_cluster("paris", 48.85, 2.35, "eu-west")
        s.add_node("n1", "paris", 4)
        # Two builds: the new one is the old with scattered edits and a new tail.
        rng = random.Random("delta-it")
        old = bytearray(rng.randbytes(SIZE))
        new = bytearray(old)
        for at in range(1000, len(new), 150_000):
            new[at:at + 64] = rng.randbytes(64)
        new += rng.randbytes(30_000)
        cls.old_file = s.root / f"fw-{BASE}.bin"          # the base: not served
        cls.old_file.write_bytes(bytes(old))
        cls.new_file = s.artifacts / f"fw-{TARGET}.bin"
        cls.new_file.write_bytes(bytes(new))
        cls.url_path = "/" + cls.new_file.name
        cls.delta_path = f"{cls.url_path}.from-{BASE}.zst"
        s.operator.add_version(TARGET, cls.new_file, cls.url_path, s.signing_keys()[0],
                               delta_from={BASE: cls.old_file})
        cls.versions = s.cli_json("version", "list")

        agents = {}
        for tid, version in (("D001", BASE), ("D002", OTHER)):
            image = s.root / "images" / tid / "system.img"
            image.parent.mkdir(parents=True, exist_ok=True)
            image.write_bytes(bytes(old))  # D002's version is not the base: its image is never used
            agents[tid] = (s.start_agent(tid, 48.9, 2.4, version=version,
                                         extra_config={"image_path": str(image)}), image)
        cls.agents = agents
        s.wait_terminals_known(list(agents), timeout=30)
        s.cli("campaign", "create", "it-delta", "--version", TARGET, "--terminals", "D001,D002")
        s.cli("campaign", "schedule", "it-delta", "--window", "earliest")
        cls.rc = s.cli_stream("campaign", "status", "it-delta", "--wait", "90", timeout=105)
        cls.report = s.cli_json("campaign", "status", "it-delta")
        st.wait_until(lambda: all(a.installed_version() == TARGET for a, _ in agents.values()), 10)
        cls.entries = s.access_entries("n1")

    def fetched(self, tid: str) -> dict[str, int]:
        """path -> body bytes nginx sent to `tid` (status 200/206)."""
        out: dict[str, int] = {}
        for e in self.entries:
            if e.get("terminal") == tid and e.get("status") in ("200", "206"):
                out[e["path"]] = out.get(e["path"], 0) + int(e.get("body_bytes_sent") or 0)
        return out

    def test_campaign_done_both_succeeded(self):
        self.assertEqual(self.rc, 0, "`campaign status --wait` did not see DONE")
        self.assertEqual(outcomes(self.report), {"D001": "SUCCEEDED", "D002": "SUCCEEDED"}, self.report)

    def test_the_artifact_lists_its_delta(self):
        art = [a for a in self.versions.get("artifacts", []) if a["version"] == TARGET]
        self.assertEqual(len(art), 1, self.versions)
        deltas = art[0].get("deltas", [])
        self.assertEqual([(d["fromVersion"] if "fromVersion" in d else d.get("from_version"), d["path"])
                          for d in deltas], [(BASE, self.delta_path)], art)

    def test_terminal_on_the_base_fetched_only_the_delta(self):
        got = self.fetched("D001")
        full = self.new_file.stat().st_size
        self.assertEqual(set(got), {self.delta_path}, self.entries)
        ratio = got[self.delta_path] / full
        print(f"D001: {got[self.delta_path]} bytes served for a {full}-byte image (ratio {ratio:.4f})")
        self.assertLess(ratio, 0.25)
        detail = {t["terminal_id"]: t.get("detail", "") for t in self.report.get("terminals", [])}
        self.assertIn("from a delta", detail.get("D001", ""), self.report)

    def test_terminal_on_another_version_fetched_the_full_image(self):
        got = self.fetched("D002")
        self.assertEqual(set(got), {self.url_path}, self.entries)
        self.assertEqual(got[self.url_path], self.new_file.stat().st_size)

    def test_both_installed_the_full_image_byte_for_byte(self):
        want = self.new_file.read_bytes()
        for tid, (agent, image) in self.agents.items():
            with self.subTest(terminal=tid):
                self.assertEqual(agent.installed_version(), TARGET)
                self.assertEqual((agent.dir / "installed" / "firmware.bin").read_bytes(), want)
                self.assertEqual(image.read_bytes(), want, "image_path holds the installed image")


def main() -> int:
    return st.run_test_file([DeltaCampaign], OPTS, __doc__)


if __name__ == "__main__":
    sys.exit(main())
