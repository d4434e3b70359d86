#!/usr/bin/env python3
"""The systemd units of docker/systemd/ are valid, hardened, and start what they say.

  test_systemd_units.py --build-dir BUILD [--keep]

* `systemd-analyze verify` accepts slotwise-scheduler.service,
  slotwise-agent.service and Debian's mosquitto.service with the Slotwise
  drop-in, with no warning at all (verify exits 0 on unknown keys and bad
  values, so any output fails). verify wants ExecStart's binary to exist:
  the units are rendered into a temp dir with the built binaries' paths.
* Each unit carries the hardening and limits it must (LimitNOFILE,
  NoNewPrivileges, ProtectSystem=strict, empty CapabilityBoundingSet, ...);
  `systemd-analyze security --offline` scores are printed and bounded.
* The flags in each ExecStart are flags the built binary has (--help).
* Real processes: mosquitto loads mosquitto-conf.d/slotwise.conf (the built
  plugin, a generated password file, a free loopback port), and the
  scheduler runs with its unit's ExecStart and the sample environment file,
  connects to that broker, and stops cleanly on SIGTERM.

The last line is `N passed, M failed`; the exit code is 0 only if all passed.
"""
import argparse
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
UNITS = REPO / "docker" / "systemd"
ARGS = None

# What every Slotwise unit must say (key -> required value, None = any value).
REQUIRED = {
    "LimitNOFILE": None,
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "DynamicUser": "yes",
    "StateDirectory": None,
    "RestrictAddressFamilies": None,
    "CapabilityBoundingSet": "",
    "SystemCallFilter": "@system-service",
    "SystemCallArchitectures": "native",
    "MemoryDenyWriteExecute": "yes",
}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def directives(text: str) -> dict:
    """key -> list of values of a unit file (comments and sections dropped)."""
    out: dict = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#;[" or "=" not in line:
            continue
        k, v = line.split("=", 1)
        out.setdefault(k.strip(), []).append(v.strip())
    return out


def exec_start(unit: Path) -> list:
    return shlex.split(directives(unit.read_text())["ExecStart"][0])


def stop(proc: subprocess.Popen, timeout: float = 5) -> int:
    """SIGTERM by pid, then SIGKILL after `timeout`; returns the exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


class SystemdUnits(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.analyze = shutil.which("systemd-analyze")
        if not cls.analyze:
            raise unittest.SkipTest("systemd-analyze not found (docker/install-deps.sh installs systemd)")
        build = Path(ARGS.build_dir).resolve()
        cls.bins = {
            "/usr/local/bin/slotwise-scheduler": build / "scheduler" / "slotwise-scheduler",
            "/usr/local/bin/slotwise-agent": build / "agent" / "slotwise-agent",
        }
        cls.plugin = build / "broker-plugin" / "mosquitto_slotwise.so"
        cls.tmp = Path(tempfile.mkdtemp(prefix="slotwise-systemd-"))
        cls.rendered = {}
        for name in ("slotwise-scheduler.service", "slotwise-agent.service"):
            text = (UNITS / name).read_text()
            for installed, built in cls.bins.items():
                text = text.replace(installed, str(built))
            (cls.tmp / name).write_text(text)
            cls.rendered[name] = cls.tmp / name
        # Debian's unit with our drop-in beside it: verify reads drop-ins from
        # <dir of the unit>/mosquitto.service.d/.
        debian = Path("/lib/systemd/system/mosquitto.service")
        if debian.exists():
            (cls.tmp / "mosquitto.service.d").mkdir()
            shutil.copy(debian, cls.tmp / "mosquitto.service")
            shutil.copy(UNITS / "mosquitto.service.d" / "slotwise.conf", cls.tmp / "mosquitto.service.d")
            cls.rendered["mosquitto.service"] = cls.tmp / "mosquitto.service"

    @classmethod
    def tearDownClass(cls):
        if not ARGS.keep:
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_verify_is_silent(self):
        self.assertIn("mosquitto.service", self.rendered, "Debian's mosquitto.service is not installed")
        for name, path in self.rendered.items():
            with self.subTest(unit=name):
                r = subprocess.run([self.analyze, "verify", str(path)], capture_output=True, text=True,
                                   cwd=self.tmp, timeout=60)
                out = (r.stdout + r.stderr).strip()
                print(f"verify {name}: rc={r.returncode} {out or '(no output)'}")
                self.assertEqual(r.returncode, 0, out)
                self.assertEqual(out, "", "systemd-analyze verify warned")

    def test_verify_catches_a_bad_unit(self):
        # The check above must be able to fail: a misspelt key is reported.
        bad = self.tmp / "bad.service"
        bad.write_text(self.rendered["slotwise-agent.service"].read_text().replace(
            "NoNewPrivileges=yes", "NoNewPrivilege=yes"))
        r = subprocess.run([self.analyze, "verify", str(bad)], capture_output=True, text=True, timeout=60)
        self.assertIn("Unknown key", r.stdout + r.stderr)
        bad.unlink()

    def test_hardening_and_limits(self):
        for name in ("slotwise-scheduler.service", "slotwise-agent.service"):
            d = directives((UNITS / name).read_text())
            for key, want in REQUIRED.items():
                with self.subTest(unit=name, key=key):
                    self.assertIn(key, d, f"{name} lacks {key}=")
                    if want is not None:
                        self.assertIn(want, d[key], f"{name}: {key}={d[key]}")
            with self.subTest(unit=name, key="secrets"):
                self.assertTrue("EnvironmentFile" in d or "LoadCredential" in d)
        d = directives((UNITS / "mosquitto.service.d" / "slotwise.conf").read_text())
        self.assertIn("LimitNOFILE", d)
        self.assertGreaterEqual(int(d["LimitNOFILE"][0]), 65536)

    def test_security_scores(self):
        limits = {"slotwise-scheduler.service": 2.0, "slotwise-agent.service": 2.0, "mosquitto.service": 5.0}
        for name, path in self.rendered.items():
            with self.subTest(unit=name):
                r = subprocess.run([self.analyze, "security", "--offline=yes", "--no-pager", str(path)],
                                   capture_output=True, text=True, timeout=60)
                m = re.search(r"Overall exposure level for \S+: ([0-9.]+) (\S+)", r.stdout + r.stderr)
                self.assertIsNotNone(m, r.stdout + r.stderr)
                print(f"systemd-analyze security {name}: {m.group(1)} {m.group(2)}")
                self.assertLessEqual(float(m.group(1)), limits[name])

    def test_exec_start_flags_exist(self):
        for name in ("slotwise-scheduler.service", "slotwise-agent.service"):
            argv = exec_start(self.rendered[name])
            help_text = subprocess.run([argv[0], "--help"], capture_output=True, text=True, timeout=30).stdout
            flags = [a for a in argv[1:] if a.startswith("--")]
            env_opts = self.sample_env().get("SLOTWISE_SCHEDULER_OPTS", "") if "scheduler" in name else ""
            flags += [a for a in env_opts.split() if a.startswith("--")]
            for flag in flags:
                with self.subTest(unit=name, flag=flag):
                    self.assertRegex(help_text, re.escape(flag) + r"\b")

    @staticmethod
    def sample_env() -> dict:
        env = {}
        for line in (UNITS / "slotwise-scheduler.env.sample").read_text().splitlines():
            if line.strip() and not line.lstrip().startswith("#") and "=" in line:
                k, v = line.split("=", 1)
                env[k.strip()] = v.strip()
        return env

    def test_broker_conf_and_scheduler_start(self):
        mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        passwd_tool = shutil.which("mosquitto_passwd")
        self.assertTrue(Path(mosquitto).exists() and passwd_tool, "mosquitto and mosquitto_passwd are needed")
        self.assertTrue(self.plugin.exists(), f"{self.plugin} not built")
        env = self.sample_env()
        run = self.tmp / "broker"
        run.mkdir()
        # mosquitto started as root drops to user mosquitto before the plugin
        # reads its password file: the path must be readable by that user.
        self.tmp.chmod(0o755)
        run.chmod(0o755)
        passwd = run / "mosquitto.passwd"
        subprocess.run([passwd_tool, "-c", "-b", str(passwd), "slotwise-scheduler",
                        env["SLOTWISE_SCHEDULER_PASSWORD"]], check=True, capture_output=True, timeout=30)
        passwd.chmod(0o644)
        port = free_port()
        conf = (UNITS / "mosquitto-conf.d" / "slotwise.conf").read_text()
        conf = conf.replace("listener 1883 127.0.0.1", f"listener {port} 127.0.0.1")
        # The build tree may be closed to user mosquitto (a clone in a 0700 dir).
        plugin = run / self.plugin.name
        shutil.copyfile(self.plugin, plugin)
        plugin.chmod(0o644)
        conf = conf.replace("/usr/local/lib/slotwise/mosquitto_slotwise.so", str(plugin))
        conf = conf.replace("/etc/slotwise/mosquitto.passwd", str(passwd))
        self.assertIn(str(plugin), conf)
        self.assertIn(str(passwd), conf)
        (run / "mosquitto.conf").write_text(conf + "\nlog_dest stderr\nlog_type all\n")
        broker_log = open(run / "mosquitto.log", "w")
        broker = subprocess.Popen([mosquitto, "-c", str(run / "mosquitto.conf")], stdout=broker_log,
                                  stderr=subprocess.STDOUT)
        scheduler = None
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                self.assertIsNone(broker.poll(), (run / "mosquitto.log").read_text())
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                    break
                except OSError:
                    time.sleep(0.1)
            else:
                self.fail("mosquitto did not listen: " + (run / "mosquitto.log").read_text())

            # The scheduler as its unit starts it: ExecStart with %S and
            # $SLOTWISE_SCHEDULER_OPTS expanded, the env file's variables.
            state = self.tmp / "state"
            (state / "slotwise-scheduler").mkdir(parents=True)
            argv = []
            for a in exec_start(self.rendered["slotwise-scheduler.service"]):
                if a == "$SLOTWISE_SCHEDULER_OPTS":
                    argv += env["SLOTWISE_SCHEDULER_OPTS"].replace("127.0.0.1:1883", f"127.0.0.1:{port}").split()
                else:
                    argv.append(a.replace("%S", str(state)))
            proc_env = dict(os.environ, **{k: v for k, v in env.items() if k != "SLOTWISE_SCHEDULER_OPTS"})
            sched_log = open(self.tmp / "scheduler.log", "w")
            scheduler = subprocess.Popen(argv + ["--connect-timeout", "10", "--poll-ms", "0"], env=proc_env,
                                         stdout=sched_log, stderr=subprocess.STDOUT)
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                if "as slotwise-scheduler" in (run / "mosquitto.log").read_text():
                    break
                self.assertIsNone(scheduler.poll(), (self.tmp / "scheduler.log").read_text())
                time.sleep(0.2)
            else:
                self.fail("the scheduler never connected: " + (self.tmp / "scheduler.log").read_text())
            time.sleep(1)
            self.assertIsNone(scheduler.poll(), (self.tmp / "scheduler.log").read_text())
            self.assertTrue((state / "slotwise-scheduler" / "db").is_dir(), "no RocksDB in the StateDirectory")
            self.assertEqual(stop(scheduler, 30), 0, (self.tmp / "scheduler.log").read_text())
            print(f"mosquitto with conf.d/slotwise.conf on port {port}; the scheduler connected and stopped cleanly")
        finally:
            if scheduler is not None:
                stop(scheduler)
            stop(broker)
            broker_log.close()


def main() -> int:
    global ARGS
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--build-dir", required=True)
    p.add_argument("--keep", action="store_true", help="keep the temp dir")
    ARGS = p.parse_args()
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(SystemdUnits)
    result = unittest.TextTestRunner(stream=sys.stdout, verbosity=2).run(suite)
    failed = len(result.failures) + len(result.errors)
    passed = result.testsRun - failed - len(result.skipped)
    print(f"{passed} passed, {failed} failed", flush=True)
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
