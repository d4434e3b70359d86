#!/usr/bin/env python3
"""Storage faults against the real slotwise-scheduler daemon (a plain
mosquitto, the operator CLI, RocksDB on real files):

  disk full   the store on a small tmpfs mounted here (skipped, saying so,
              only where mounting is not allowed): the tmpfs is filled, an
              operator write is refused INTERNAL and refused again; space is
              freed and writes succeed again WITHOUT a restart, the same
              daemon still runs and says in its log that the store resumed;
              what was refused is nowhere, what was acknowledged survives a
              restart.
  damaged WAL 32 clusters and a campaign written, the daemon killed with
              SIGKILL (a crash; the WAL holds everything), then: one byte
              flipped in the middle of the WAL, one near its start, the WAL
              truncated, the WAL deleted, the directory emptied. Each start
              is refused (exit status 1) with a message naming the file and
              the recovery; the files are left as they were; the undamaged
              store opens with everything; --accept-empty-store starts fresh
              deliberately, after which the flag is not needed.

Everything under one temp dir (kept on failure), every process stopped by
its pid.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))  # tests/support
import slotwise_testing as st  # noqa: E402
from slotwise_testing import ls  # noqa: E402

RESULTS: list[tuple[str, bool, str]] = []


def check(name: str, ok: bool, detail: str = "") -> bool:
    RESULTS.append((name, ok, detail))
    print(f"{'ok  ' if ok else 'FAIL'} {name}" + ("" if ok or not detail else f": {detail}"), flush=True)
    return ok


class Env:
    def __init__(self, build: Path, root: Path):
        self.scheduler_bin = build / "scheduler" / "slotwise-scheduler"
        self.cli_bin = build / "scheduler" / "slotwise"
        self.root = root
        self.logs = root / "logs"
        self.logs.mkdir()
        self.procs: list[ls.Process] = []
        self.starts = 0
        self.url = ""

    def start_broker(self) -> bool:
        mosquitto = ls.find_tool("mosquitto")
        if not mosquitto:
            print("mosquitto is not installed")
            return False
        port = ls.free_port()
        conf = self.root / "mosquitto.conf"
        lines = [f"listener {port} 127.0.0.1", "allow_anonymous true", "persistence false", "log_dest stderr"]
        if os.geteuid() == 0:
            lines.append("user root")
        conf.write_text("\n".join(lines) + "\n")
        broker = ls.Process("mosquitto", [mosquitto, "-c", str(conf)], self.logs / "mosquitto.log", self.root)
        self.procs.append(broker)
        if not st.wait_until(lambda: ls.port_open(port) or not broker.alive(), 15) or not broker.alive():
            print(broker.describe_failure("did not listen"))
            return False
        self.url = f"tcp://127.0.0.1:{port}"
        return True

    def start_scheduler(self, db: Path, *extra: str) -> ls.Process:
        self.starts += 1
        p = ls.Process(f"scheduler-{self.starts}",
                       [str(self.scheduler_bin), "--broker", self.url, "--db", str(db), "--slot-seconds", "60",
                        "--poll-ms", "0", "--trust-unstamped-terminals", *extra],
                       self.logs / f"scheduler-{self.starts}.log", self.root)
        self.procs.append(p)
        return p

    def cli(self, *a: str, timeout: int = 10) -> subprocess.CompletedProcess:
        return subprocess.run([str(self.cli_bin), "--broker", self.url, "--timeout", str(timeout), *a],
                              capture_output=True, text=True, timeout=timeout + 30)

    def serving(self, sched: ls.Process, timeout: float = 20) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and sched.alive():
            if self.cli("cluster", "list", timeout=2).returncode == 0:
                return True
            time.sleep(0.2)
        return False

    def clusters(self) -> set[str]:
        r = self.cli("cluster", "list")
        if r.returncode != 0:
            raise RuntimeError(f"cluster list: {r.stderr.strip()}")
        names = set()
        for line in r.stdout.splitlines()[1:]:
            if line.split():
                names.add(line.split()[0])
        return names


def add_cluster(env: Env, name: str) -> subprocess.CompletedProcess:
    return env.cli("cluster", "add", name, "--lat", "48.85", "--lon", "2.35")


def fill(path: Path) -> None:
    with open(path, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass


def write_until_refused(env: Env, prefix: str, after_first: int = 2) -> tuple[set[str], list[subprocess.CompletedProcess]]:
    """Writes until one is refused, then `after_first` more (also refused: the
    store stays degraded while the disk is full)."""
    acked: set[str] = set()
    refused: list[subprocess.CompletedProcess] = []
    for i in range(400):
        r = add_cluster(env, f"{prefix}{i}")
        if r.returncode == 0 and not refused:
            acked.add(f"{prefix}{i}")
            continue
        refused.append(r)
        if len(refused) == 1 + after_first:
            break
    return acked, refused


def disk_full(env: Env) -> None:
    mnt = env.root / "mnt"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if r.returncode != 0:
        print(f"SKIPPED disk full: cannot mount a tmpfs here ({r.stderr.strip() or r.returncode}); "
              "this case needs root and mount rights", flush=True)
        return
    try:
        db = mnt / "db"
        sched = env.start_scheduler(db)
        if not check("disk full: the daemon serves on the tmpfs", env.serving(sched), sched.tail(10)):
            return
        check("disk full: a write with space is acknowledged", add_cluster(env, "before").returncode == 0)
        filler = mnt / "filler"
        fill(filler)
        # The WAL's last page may still hold a few small records: write until
        # one is refused, then twice more.
        acked_full, refused = write_until_refused(env, "full")
        print(f"  ({len(acked_full)} small writes still fitted before the first refusal)", flush=True)
        check("disk full: writes are refused INTERNAL", len(refused) == 3 and
              all(r.returncode == 1 and "INTERNAL" in r.stderr for r in refused),
              " | ".join(r.stderr.strip() for r in refused))
        check("disk full: the daemon says why: the store is degraded, writes refused until it resumes",
              "writes are refused until the store resumes" in sched.log_path.read_text(errors="replace"),
              sched.tail(5))
        check("disk full: the daemon is still alive while full", sched.alive(), sched.tail(10))
        filler.unlink()
        t0 = time.monotonic()
        r = add_cluster(env, "after")
        while r.returncode != 0 and time.monotonic() - t0 < 20 and sched.alive():
            time.sleep(0.3)
            r = add_cluster(env, "after")
        check("disk full: after space returns, writes succeed again without a restart",
              r.returncode == 0 and sched.alive(), r.stderr.strip())
        print(f"  (accepted again {time.monotonic() - t0:.1f} s after the space came back)", flush=True)
        check("disk full: the same daemon process is still running", sched.alive() and env.starts == 1)
        log = sched.log_path.read_text(errors="replace")
        check("disk full: the daemon logged the failure and that the store resumed",
              "writes are refused until the store resumes" in log and " resumed: writes accepted again" in log,
              sched.tail(10))
        for i in range(5):
            check(f"disk full: a further write {i} is acknowledged", add_cluster(env, f"more{i}").returncode == 0)
        want = {"before", "after"} | acked_full | {f"more{i}" for i in range(5)}
        got = env.clusters()
        check("disk full: refused writes were not applied, acknowledged ones are there", got == want, str(got))
        ls.stop_processes([sched], timeout=15)
        check("disk full: the daemon exits cleanly on SIGTERM", sched.returncode == 0, str(sched.returncode))
        sched = env.start_scheduler(db)
        check("disk full: restarts on the same store", env.serving(sched), sched.tail(10))
        got = env.clusters()
        check("disk full: after a restart the store holds exactly what was acknowledged", got == want, str(got))

        # Killed while full (the WAL may end in the refused write's torn
        # record), restarted once space is back: it starts, without that write.
        fill(filler)
        acked2, refused = write_until_refused(env, "again", after_first=0)
        check("disk full again, right after a restart: refused INTERNAL", len(refused) == 1 and
              all(r.returncode == 1 and "INTERNAL" in r.stderr for r in refused),
              " | ".join(r.stderr.strip() for r in refused))
        check("disk full again: the daemon is still alive", sched.alive(), sched.tail(5))
        sched.signal(signal.SIGKILL)
        sched.popen.wait(timeout=10)
        filler.unlink()
        sched = env.start_scheduler(db)
        check("disk full, killed, space back: the restarted daemon serves", env.serving(sched), sched.tail(10))
        got = env.clusters() if sched.alive() else set()
        check("disk full, killed, space back: it holds what was acknowledged and nothing refused",
              got == want | acked2, str(got ^ (want | acked2)))
        ls.stop_processes([sched], timeout=15)
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def the_wal(db: Path) -> Path:
    logs = sorted(db.glob("*.log"))
    assert len(logs) == 1, logs
    return logs[0]


def flip(path: Path, offset: int) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0x5A]))


def listing(db: Path) -> list[tuple[str, int]]:
    return sorted((p.name, p.stat().st_size) for p in db.iterdir()) if db.exists() else []


def damaged_wal(env: Env) -> None:
    pristine = env.root / "pristine"
    sched = env.start_scheduler(pristine)
    if not check("WAL: the daemon serves", env.serving(sched), sched.tail(10)):
        return
    names = {f"c{i:02d}" for i in range(30)} | {"paris", "munich"}
    failed = [n for n in sorted(names) if add_cluster(env, n).returncode != 0]
    env.cli("node", "add", "p1", "--cluster", "paris", "--url", "http://127.0.0.1:9/p1", "--per-slot", "10")
    fw = env.root / "fw.bin"
    fw.write_bytes(b"firmware")
    env.cli("version", "add", "2.0.0", "--file", str(fw), "--path", "/fw.bin")
    ids = env.root / "ids.txt"
    ids.write_text("".join(f"T{i}\n" for i in range(200)))
    r = env.cli("campaign", "create", "c1", "--version", "2.0.0", "--terminals-file", str(ids))
    check("WAL: 32 clusters and a campaign written", not failed and r.returncode == 0, f"{failed} {r.stderr}")
    sched.signal(signal.SIGKILL)  # a crash: everything is in the WAL
    sched.popen.wait(timeout=10)
    wal_size = the_wal(pristine).stat().st_size
    print(f"  (WAL {the_wal(pristine).name}: {wal_size} bytes)", flush=True)

    def copy(name: str) -> Path:
        d = env.root / name
        shutil.copytree(pristine, d)
        if ls_marker(pristine).exists():
            shutil.copy(ls_marker(pristine), ls_marker(d))
        return d

    def refused(what: str, db: Path, names_in_message: str) -> None:
        before = listing(db)
        p = env.start_scheduler(db)
        try:
            p.popen.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pass
        log = p.log_path.read_text(errors="replace")
        check(f"{what}: the daemon refuses to start (exit 1)", p.returncode == 1, f"rc {p.returncode}; {p.tail(5)}")
        check(f"{what}: the message names {names_in_message} and the recovery",
              "refusing to start" in log and names_in_message in log and "Storage faults and recovery" in log,
              p.tail(5))
        check(f"{what}: the store's files are left as they were", listing(db) == before,
              f"{before} -> {listing(db)}")
        ls.stop_processes([p], timeout=5)

    d = copy("flip-middle")
    flip(the_wal(d), wal_size // 2)
    refused("WAL byte flipped mid-file", d, str(the_wal(d)))
    d = copy("flip-start")
    flip(the_wal(d), 10)
    refused("WAL byte flipped near its start", d, str(the_wal(d)))
    d = copy("truncated")
    os.truncate(the_wal(d), wal_size // 2 + 3)
    refused("WAL truncated", d, str(the_wal(d)))
    d = copy("deleted")
    the_wal(d).unlink()
    refused("WAL deleted", d, "deleted or lost")
    d = copy("emptied")
    for p in d.iterdir():
        p.unlink()
    refused("store directory emptied", d, ls_marker(d).name)

    sched = env.start_scheduler(d, "--accept-empty-store")
    check("--accept-empty-store: starts with an empty store deliberately", env.serving(sched), sched.tail(10))
    check("--accept-empty-store: the store is empty", env.clusters() == set())
    check("--accept-empty-store: and writable", add_cluster(env, "fresh").returncode == 0)
    ls.stop_processes([sched], timeout=15)
    sched = env.start_scheduler(d)
    check("--accept-empty-store: the next start needs no flag", env.serving(sched) and env.clusters() == {"fresh"},
          sched.tail(10))
    ls.stop_processes([sched], timeout=15)

    sched = env.start_scheduler(pristine)
    check("undamaged copy: starts with all 32 clusters and the campaign",
          env.serving(sched) and env.clusters() == names and env.cli("campaign", "status", "c1").returncode == 0,
          sched.tail(10))
    second = env.start_scheduler(pristine)
    try:
        second.popen.wait(timeout=20)
    except subprocess.TimeoutExpired:
        pass
    check("a second scheduler on the same store is refused", second.returncode == 1 and "LOCK" in second.tail(5),
          second.tail(5))
    ls.stop_processes([sched, second], timeout=15)


def ls_marker(db: Path) -> Path:
    return db.parent / (db.name + ".slotwise-store")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="slotwise-storage-"))
    env = Env(Path(args.build_dir).resolve(), root)
    try:
        if not env.start_broker():
            return 1
        for phase in (disk_full, damaged_wal):
            try:
                phase(env)
            except Exception as e:  # noqa: BLE001
                check(f"{phase.__name__}: no exception", False, repr(e))
    finally:
        ls.stop_processes(env.procs, timeout=10)
        failed = sum(1 for _, ok, _ in RESULTS if not ok)
        passed = len(RESULTS) - failed
        ok = failed == 0 and passed > 0
        if ok and not args.keep:
            shutil.rmtree(root, ignore_errors=True)
        else:
            print(f"files kept in {root}")
        print(f"{passed} passed, {failed} failed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
