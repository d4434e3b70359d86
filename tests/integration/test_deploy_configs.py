#!/usr/bin/env python3
"""The deployment's configs (docker/config/, used by docker/Dockerfile and
docker/compose.yaml) are a fresh render of localstack/deploy.py, and real
processes load exactly those files:

  * make-credentials.sh makes the secrets and the plugin's password file
    (with the real mosquitto_passwd) into a temp dir;
  * mosquitto loads mosquitto.conf with the built plugin; only the lines
    that name the container's paths and port are overridden (listener -> a
    free loopback port, plugin -> the build's, password file and persistence
    dir -> the temp dir), and the test asserts that no other line changed;
  * slotwise-scheduler runs with the flags of compose.yaml's scheduler service
    (only --broker and --db overridden), through with-secrets.sh, and
    `slotwise node list` through with-secrets.sh answers (a wrong operator
    password is refused);
  * start-agent.sh starts slotwise-agent from agent.conf.in; the scheduler
    lists the terminal;
  * start-node.sh runs `nginx -t` on nginx.conf (secure_link secret included).

Docker itself cannot run here; this is what can be checked without it.

    python3 tests/integration/test_deploy_configs.py --build-dir build [--keep]

The last line is `N passed, M failed`; the exit code is 0 only if all passed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))  # tests/support
import slotwise_testing as st  # noqa: E402
from slotwise_testing import ls  # noqa: E402
from localstack import deploy  # noqa: E402

OPTS = argparse.Namespace(build_dir=str(REPO / "build"), keep=False)
CONFIG = REPO / "docker" / "config"
COMPOSE = REPO / "docker" / "compose.yaml"
TERMINAL, LOCATION = deploy.TERMINALS[0]


def override(text: str, lines: dict[str, str]) -> str:
    """Replace the one line starting with each key by its value; every key must
    match exactly one line."""
    out = text.splitlines()
    for prefix, new in lines.items():
        hits = [i for i, line in enumerate(out) if line.startswith(prefix)]
        assert len(hits) == 1, f"{prefix!r} is on {len(hits)} lines of the config"
        out[hits[0]] = new
    return "\n".join(out) + "\n"


def compose_command(service: str) -> list[str]:
    """The one-line `command: [...]` of a compose service (a JSON flow list)."""
    text = COMPOSE.read_text()
    block = re.search(rf"(?ms)^  {re.escape(service)}:\n(.*?)(?=^  \S|^\S)", text)
    assert block, f"no service {service} in {COMPOSE}"
    m = re.search(r"(?m)^    command: (\[.*\])$", block.group(1))
    assert m, f"service {service} has no one-line command"
    return json.loads(m.group(1))


class DeployConfigs(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.build = ls.resolve_build_dir(OPTS.build_dir)
        cls.root = Path(tempfile.mkdtemp(prefix="slotwise-deploy-"))
        cls.root.chmod(0o755)  # mosquitto drops to user mosquitto, as in the image
        cls.logs = cls.root / "logs"
        cls.logs.mkdir()
        cls.secrets = cls.root / "secrets"
        cls.procs: list[ls.Process] = []
        path = ":".join([str(cls.build / "agent"), str(cls.build / "scheduler"),
                         "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"])
        cls.env = {k: v for k, v in os.environ.items() if not k.startswith("SLOTWISE_")}
        cls.env.update(PATH=path, SLOTWISE_SECRETS=str(cls.secrets), SLOTWISE_CONFIG_DIR=str(CONFIG))
        try:
            cls._start()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls) -> None:
        ls.stop_processes(reversed(cls.procs), timeout=10)
        cls.procs = []
        if OPTS.keep or st.tests_failed_so_far():
            print(f"files kept in {cls.root}")
        else:
            shutil.rmtree(cls.root, ignore_errors=True)

    @classmethod
    def _spawn(cls, name: str, argv: list[str], env: dict | None = None) -> ls.Process:
        p = ls.Process(name, argv, cls.logs / f"{name}.log", cls.root, env or cls.env)
        cls.procs.append(p)
        return p

    @classmethod
    def _start(cls) -> None:
        cls.credentials = subprocess.run([str(CONFIG / "make-credentials.sh"), TERMINAL],
                                         env=cls.env, capture_output=True, text=True, timeout=60)
        if cls.credentials.returncode != 0:
            return
        # mosquitto, on the committed config with the container's paths overridden.
        cls.port = st.free_port()
        data = cls.root / "mosquitto-data"
        data.mkdir()
        data.chmod(0o777)
        cls.committed_conf = (CONFIG / "mosquitto.conf").read_text()
        cls.overrides = {
            "listener ": f"listener {cls.port} 127.0.0.1",
            "plugin ": f"plugin {st.readable_copy(cls.build / ls.stack.BINARIES['plugin'], cls.root / 'lib')}",
            "plugin_opt_password_file ": f"plugin_opt_password_file {cls.secrets / 'mosquitto.passwd'}",
            "persistence_location ": f"persistence_location {data}/",
        }
        cls.conf = cls.root / "mosquitto.conf"
        cls.conf.write_text(override(cls.committed_conf, cls.overrides))
        cls.broker = cls._spawn("mosquitto", [ls.find_tool("mosquitto"), "-c", str(cls.conf)])
        cls.broker_up = ls.wait_port(cls.broker, cls.port, 15)
        if not cls.broker_up:
            return
        cls.url = f"tcp://127.0.0.1:{cls.port}"
        # The scheduler with compose's flags, through with-secrets.sh.
        argv = compose_command("scheduler")
        argv[argv.index("--broker") + 1] = cls.url
        argv[argv.index("--db") + 1] = str(cls.root / "db")
        cls.scheduler_argv = argv
        cls.scheduler = cls._spawn("scheduler", [str(CONFIG / "with-secrets.sh"),
                                                 str(cls.build / ls.stack.BINARIES["scheduler"])] + argv[1:])
        cls.node_list = st.wait_until(lambda: (r := cls.cli("node", "list")).returncode == 0 and r,
                                      timeout=30, interval=0.3) or cls.cli("node", "list")
        # An agent from agent.conf.in, through start-agent.sh.
        agent_env = dict(cls.env, SLOTWISE_BROKER=cls.url, SLOTWISE_AGENT_DIR=str(cls.root / "agent"),
                         TERMINAL_ID=TERMINAL, LOCATION=LOCATION)
        cls.agent = cls._spawn("agent", [str(CONFIG / "start-agent.sh")], env=agent_env)

    @classmethod
    def cli(cls, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([str(CONFIG / "with-secrets.sh"), "slotwise", "--broker", cls.url,
                               "--timeout", "3", *args], env=env or cls.env,
                              capture_output=True, text=True, timeout=30)

    # -- the files -------------------------------------------------------------

    def test_committed_files_are_a_fresh_render(self):
        self.assertEqual(deploy.differences(CONFIG), [],
                         "run `python3 -m localstack render-deploy` and commit docker/config/")

    def test_compose_and_dockerfile_use_them(self):
        self.assertEqual(compose_command("scheduler"), deploy.SCHEDULER_COMMAND)
        text = COMPOSE.read_text()
        for name in ("mosquitto.conf", "with-secrets.sh", "make-credentials.sh", "start-node.sh",
                     "start-agent.sh"):
            with self.subTest(file=name):
                self.assertIn(f"/etc/slotwise/{name}", text)
        self.assertNotIn("plugin_opt_", text, "a mosquitto config written into compose.yaml")
        self.assertNotRegex(text, r"(?i)password\s*[:=]\s*\S", "a password in compose.yaml")
        self.assertIn("COPY docker/config/ /etc/slotwise/", (REPO / "docker" / "Dockerfile").read_text())
        self.assertIn(f"{deploy.SECRETS}/mosquitto.passwd", (CONFIG / "mosquitto.conf").read_text())

    # -- the processes ---------------------------------------------------------

    def test_credentials_made(self):
        self.assertEqual(self.credentials.returncode, 0, self.credentials.stderr)
        users = [line.split(":", 1)[0] for line in (self.secrets / "mosquitto.passwd").read_text().splitlines()]
        self.assertEqual(users, [ls.SERVICE_USERNAME, ls.OPERATOR_USERNAME, TERMINAL])

    def test_mosquitto_loads_the_config_with_the_plugin(self):
        self.assertTrue(getattr(self, "broker_up", False),
                        self.broker.describe_failure("no listener") if hasattr(self, "broker") else "")
        self.assertIn("slotwise: plugin ready", self.broker.tail(200))
        changed = [line for line in self.conf.read_text().splitlines()
                   if line not in self.committed_conf.splitlines()]
        self.assertEqual(sorted(changed), sorted(self.overrides.values()))

    def test_scheduler_runs_with_the_compose_flags(self):
        self.assertEqual(self.node_list.returncode, 0,
                         self.node_list.stderr + self.scheduler.describe_failure("node list"))
        self.assertTrue(self.scheduler.alive(), self.scheduler.describe_failure("died"))

    def test_wrong_operator_password_is_refused(self):
        env = dict(self.env, SLOTWISE_SECRETS=str(self.root / "no-secrets"), SLOTWISE_PASSWORD="wrong")
        res = self.cli("node", "list", env=env)
        # 4: the broker refused the credentials (3 would be "not reachable").
        self.assertEqual(res.returncode, 4, res.stdout + res.stderr)
        self.assertIn("not authorized", res.stderr)

    def test_agent_from_the_template_is_known_to_the_scheduler(self):
        def listed():
            res = self.cli("terminal", "list", "--json")
            return res.returncode == 0 and TERMINAL in res.stdout
        self.assertTrue(st.wait_until(listed, timeout=30, interval=0.5),
                        self.agent.describe_failure("not listed"))

    def test_nginx_accepts_the_node_config(self):
        env = dict(self.env, SLOTWISE_NODE_DIR=str(self.root / "node"))
        res = subprocess.run([str(CONFIG / "start-node.sh"), "-t"], env=env, capture_output=True,
                             text=True, timeout=30)
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
        self.assertIn("test is successful", res.stderr)
        self.assertEqual((self.root / "node" / "nginx.conf").read_text(),
                         (CONFIG / "nginx.conf").read_text())
        self.assertIn('set $slotwise_url_secret "', (self.root / "node" / "url-secret.nginx").read_text())


if __name__ == "__main__":
    sys.exit(st.run_test_file([DeployConfigs], OPTS, __doc__))
