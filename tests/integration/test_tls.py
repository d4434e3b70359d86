#!/usr/bin/env python3
"""End to end: the scheduler and the CLI over TLS to a real mosquitto TLS listener.

A throwaway CA, a server certificate for 127.0.0.1 and client certificates are
made with `openssl` at run time; the local stack (the localstack package) starts
mosquitto with the Slotwise plugin on one TLS listener that requires a client
certificate, and the scheduler with --cafile/--cert/--key on an ssl:// URL.
Checked: `slotwise node list` succeeds over TLS (flags, and SLOTWISE_CAFILE /
SLOTWISE_CERT / SLOTWISE_KEY with an mqtts:// URL); a CLI trusting another CA,
or presenting no client certificate, is refused with a clear error and exit 3;
a wrong password over TLS exits 4 with a "not authorized" message.

    python3 tests/integration/test_tls.py --build-dir build [--keep]

The last line is `N passed, M failed`; the exit code is 0 only if all passed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))  # tests/support
import slotwise_testing as st  # noqa: E402
from slotwise_testing import ls  # noqa: E402

REPO = st.REPO

OPTS = argparse.Namespace(build_dir=str(REPO / "build"), keep=False, slot_seconds=2.0)

EXIT_UNREACHABLE = 3
EXIT_NOT_AUTHORIZED = 4


def openssl(*args: str, cwd: Path) -> None:
    res = subprocess.run(["openssl", *args], cwd=str(cwd), capture_output=True, text=True, timeout=60)
    if res.returncode != 0:
        raise ls.StackError(f"openssl {' '.join(args)} failed: {res.stderr.strip()}")


def make_ca(d: Path, name: str) -> tuple[Path, Path]:
    """A self-signed EC P-256 CA valid for a day: (certificate, key)."""
    cert, key = d / f"{name}.pem", d / f"{name}.key"
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", f"/CN={name}",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
    return cert, key


def make_cert(d: Path, name: str, ca: tuple[Path, Path], extensions: str) -> tuple[Path, Path]:
    """A certificate signed by `ca` with the given v3 extensions: (certificate, key)."""
    cert, key, csr, ext = d / f"{name}.pem", d / f"{name}.key", d / f"{name}.csr", d / f"{name}.ext"
    ext.write_text(extensions + "\n")
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", str(key), "-out", str(csr), "-subj", f"/CN={name}", cwd=d)
    openssl("x509", "-req", "-in", str(csr), "-CA", str(ca[0]), "-CAkey", str(ca[1]), "-CAcreateserial",
            "-out", str(cert), "-days", "1", "-extfile", str(ext), cwd=d)
    for p in (cert, key):
        p.chmod(0o644)  # mosquitto may run as user mosquitto
    return cert, key


class Tls(unittest.TestCase):
    stack: ls.LocalStack

    @classmethod
    def setUpClass(cls) -> None:
        if not shutil.which("openssl"):
            raise unittest.SkipTest("openssl not installed")
        cls.stack = ls.LocalStack(OPTS.build_dir, slot_seconds=OPTS.slot_seconds, keep=OPTS.keep)
        try:
            d = cls.stack.root / "tls"
            d.mkdir()
            ca = make_ca(d, "slotwise-test-ca")
            server = make_cert(d, "broker", ca, "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                               "extendedKeyUsage=serverAuth")
            # The plugin reads a client certificate's CN: one naming a service
            # or an operator leaves the decision to the password.
            client = make_cert(d, ls.OPERATOR_USERNAME, ca, "extendedKeyUsage=clientAuth")
            scheduler = make_cert(d, ls.SERVICE_USERNAME, ca, "extendedKeyUsage=clientAuth")
            cls.other_ca, _ = make_ca(d, "some-other-ca")
            cls.ca, cls.client = ca[0], client
            # The stack's one listener speaks TLS and requires a client certificate.
            cls.stack.tls = ls.TlsListener(cafile=ca[0], server_cert=server[0], server_key=server[1],
                                           client_cert=client[0], client_key=client[1],
                                           scheduler_cert=scheduler[0], scheduler_key=scheduler[1])
            cls.stack.start()  # the scheduler over ssl://; ready once `node list` answers over TLS
        except BaseException as e:
            cls.stack.report_failure(e)
            cls.stack.stop()
            raise

    @classmethod
    def tearDownClass(cls) -> None:
        if st.tests_failed_so_far():
            cls.stack.keep = True
        cls.stack.stop()

    def run_cli(self, *args: str, env_extra: dict | None = None, password: str | None = None,
                broker: str | None = None) -> subprocess.CompletedProcess:
        """`slotwise` with exactly these arguments (no TLS flags added)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("SLOTWISE_")}
        env["SLOTWISE_PASSWORD"] = password if password is not None else self.stack.password_of(ls.OPERATOR_USERNAME)
        env.update(env_extra or {})
        argv = [str(self.stack.cli_bin), "--broker", broker or self.stack.broker_url, "--timeout", "5", *args]
        return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)

    def tls_args(self) -> list[str]:
        return ["--cafile", str(self.ca), "--cert", str(self.client[0]), "--key", str(self.client[1])]

    def test_1_scheduler_and_cli_over_tls(self):
        self.assertTrue(self.stack.broker_url.startswith("ssl://"), self.stack.broker_url)
        self.stack.cli("cluster", "add", "tls-c1", "--lat", "48.85", "--lon", "2.35")
        res = self.run_cli(*self.tls_args(), "cluster", "list", "--json")
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertIn("tls-c1", res.stdout)
        res = self.run_cli(*self.tls_args(), "node", "list")
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertIn("connected to ssl://", self.stack.scheduler.tail(200))

    def test_2_env_vars_and_mqtts_url(self):
        env = {"SLOTWISE_CAFILE": str(self.ca), "SLOTWISE_CERT": str(self.client[0]),
               "SLOTWISE_KEY": str(self.client[1])}
        url = f"mqtts://127.0.0.1:{self.stack.broker_port}"
        res = self.run_cli("node", "list", env_extra=env, broker=url)
        self.assertEqual(res.returncode, 0, res.stderr)

    def test_3_wrong_ca_is_refused(self):
        res = self.run_cli("--cafile", str(self.other_ca), "--cert", str(self.client[0]),
                           "--key", str(self.client[1]), "node", "list")
        self.assertEqual(res.returncode, EXIT_UNREACHABLE, res.stderr)
        self.assertIn("cannot connect to ssl://127.0.0.1", res.stderr)
        self.assertIn("TLS", res.stderr)
        self.assertEqual(res.stdout, "")

    def test_4_no_client_certificate_is_refused(self):
        res = self.run_cli("--cafile", str(self.ca), "node", "list")
        self.assertEqual(res.returncode, EXIT_UNREACHABLE, res.stderr)
        self.assertIn("cannot connect to ssl://127.0.0.1", res.stderr)

    def test_5_plain_tcp_to_the_tls_listener_fails(self):
        res = self.run_cli("node", "list", broker=f"tcp://127.0.0.1:{self.stack.broker_port}")
        self.assertEqual(res.returncode, EXIT_UNREACHABLE, res.stderr)
        self.assertTrue(res.stderr.startswith("slotwise: "), res.stderr)

    def test_6_wrong_password_exits_4(self):
        res = self.run_cli(*self.tls_args(), "node", "list", password="not-the-password")
        self.assertEqual(res.returncode, EXIT_NOT_AUTHORIZED, res.stderr)
        self.assertIn("not authorized", res.stderr)
        self.assertIn("SLOTWISE_PASSWORD", res.stderr)


def main() -> int:
    return st.run_test_file([Tls], OPTS, __doc__)


if __name__ == "__main__":
    sys.exit(main())
