"""The operator's side of a stack (S1-S5 and the campaign controls): the real
`slotwise` CLI, run as a process with the broker URL and the operator's
password in its environment, every call and its output appended to
logs/cli.log. Never a shortcut around the CLI.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
from pathlib import Path
from typing import Callable, Mapping, Optional

from .processes import StackError, now, set_pdeathsig, stop_popen


class Operator:
    """Runs `slotwise` against one broker. `password_of(username)` gives the
    MQTT password of the operator (default) or another user (`--username`)."""

    def __init__(self, cli_bin: Path, broker_url: Callable[[], str], default_username: str,
                 password_of: Callable[[str], str], cwd: Path, log_file: Path,
                 extra_args: Callable[[], list[str]] = lambda: []):
        self.cli_bin = cli_bin
        self._broker_url = broker_url  # a callable: the broker's port is known only once it runs
        self.default_username = default_username
        self.password_of = password_of
        self.cwd = cwd
        self.log_file = log_file
        self._extra_args = extra_args  # e.g. --cafile/--cert/--key for a TLS broker

    @property
    def broker_url(self) -> str:
        return self._broker_url()

    def env(self, username: Optional[str] = None) -> dict:
        """The environment a `slotwise` call needs: SLOTWISE_BROKER, SLOTWISE_PASSWORD."""
        return dict(os.environ, SLOTWISE_BROKER=self.broker_url,
                    SLOTWISE_PASSWORD=self.password_of(username or self.default_username))

    def argv(self, *args: str, timeout: Optional[float] = None,
             username: Optional[str] = None) -> list[str]:
        argv = [str(self.cli_bin), "--broker", self.broker_url] + self._extra_args()
        if username:
            argv += ["--username", username]
        if timeout is not None:
            argv += ["--timeout", str(int(math.ceil(timeout)))]
        return argv + [str(a) for a in args]

    def run(self, *args: str, check: bool = True, timeout: Optional[float] = None,
            username: Optional[str] = None) -> subprocess.CompletedProcess:
        """Run `slotwise ARGS`; with check, a non-zero exit raises StackError."""
        argv = self.argv(*args, timeout=timeout, username=username)
        wall = (timeout or 10) + 20
        try:
            res = subprocess.run(argv, env=self.env(username), cwd=str(self.cwd),
                                 capture_output=True, text=True, timeout=wall)
        except subprocess.TimeoutExpired as e:
            raise StackError(f"`slotwise {' '.join(args)}` hung for {wall}s") from e
        with open(self.log_file, "a") as f:
            f.write(f"$ slotwise {' '.join(args)}\n{res.stdout}{res.stderr}[exit {res.returncode}]\n")
        if check and res.returncode != 0:
            raise StackError(f"`slotwise {' '.join(args)}` exited {res.returncode}: "
                             f"{res.stderr.strip() or res.stdout.strip()}")
        return res

    def json(self, *args: str, timeout: Optional[float] = None):
        """`slotwise ARGS --json`, parsed: the reply message (ClusterList, CampaignReport, ...)."""
        res = self.run(*args, "--json", timeout=timeout)
        try:
            return json.loads(res.stdout)
        except json.JSONDecodeError as e:
            raise StackError(f"`slotwise {' '.join(args)} --json` printed no JSON: {e}\n"
                             f"{res.stdout[:2000]}") from e

    def stream(self, *args: str, timeout: float, echo: Callable[[str], None] | None = None) -> int:
        """Run a long CLI command (e.g. `campaign status --wait`), echoing each line."""
        argv = self.argv(*args)
        echo = echo or (lambda s: print(s, flush=True))
        with open(self.log_file, "a") as logf:
            logf.write(f"$ slotwise {' '.join(args)}\n")
            proc = subprocess.Popen(argv, env=self.env(), cwd=str(self.cwd), stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True, bufsize=1,
                                    start_new_session=True, preexec_fn=set_pdeathsig)
            deadline = now() + timeout
            try:
                assert proc.stdout is not None
                for line in proc.stdout:
                    logf.write(line)
                    echo(line.rstrip("\n"))
                    if now() > deadline:
                        break
                try:
                    proc.wait(timeout=max(1.0, deadline - now()))
                except subprocess.TimeoutExpired:
                    pass
            finally:
                stop_popen(proc)
            logf.write(f"[exit {proc.returncode}]\n")
            return proc.returncode

    # -- S1: the registry -----------------------------------------------------

    def add_cluster(self, cluster_id: str, lat: float, lon: float, region: str = "") -> None:
        args = ["cluster", "add", cluster_id, "--lat", f"{lat:.6f}", "--lon", f"{lon:.6f}"]
        if region:
            args += ["--region", region]
        self.run(*args)

    def add_node(self, node_id: str, cluster: str, url: str, per_slot: int,
                 bandwidth_bps: Optional[int] = None, max_connections: Optional[int] = None) -> None:
        args = ["node", "add", node_id, "--cluster", cluster, "--url", url,
                "--per-slot", str(per_slot), "--status-url", f"{url}/nginx_status"]
        if bandwidth_bps:
            args += ["--bandwidth-bps", str(bandwidth_bps)]
        if max_connections:
            args += ["--max-connections", str(max_connections)]
        self.run(*args)

    def add_version(self, version: str, file: Path, url_path: str, sign_key: Path,
                    delta_from: Optional[Mapping[str, Path]] = None) -> None:
        """`delta_from`: base version -> its file; each delta is built beside `file`
        (so every node serves it) with the default URL path (schemas/README.md
        "Delta artifacts")."""
        args = ["version", "add", version, "--file", str(file), "--path", url_path,
                "--sign-key", str(sign_key)]
        for base_version, base_file in (delta_from or {}).items():
            args += ["--delta-from", f"{base_version}={base_file}"]
        self.run(*args)

    def terminal_list(self) -> list[dict]:
        """`slotwise terminal list --json`'s terminals; [] when it fails."""
        res = self.run("terminal", "list", "--json", check=False, timeout=5)
        if res.returncode != 0:
            return []
        try:
            return json.loads(res.stdout).get("terminals", [])
        except (json.JSONDecodeError, AttributeError):
            return []
