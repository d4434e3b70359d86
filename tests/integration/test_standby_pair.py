#!/usr/bin/env python3
"""Leader/standby pair on one PostgreSQL 15 (localstack.postgres) and a plain
mosquitto, real daemons: SIGKILL of the leader -> the standby leads and
connects (time printed, not asserted); a leader paused with SIGSTOP is
replaced, and on SIGCONT exits with status 3 without reconnecting to the
broker. Every process is stopped by its pid.
"""
from pathlib import Path
import sys, tempfile, subprocess, time, os, signal
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from localstack.postgres import Postgres
from localstack.processes import free_port
root = Path(tempfile.mkdtemp(prefix='h-standby-fo-'))
os.chmod(root, 0o755); pg = Postgres(root / 'pg'); url = pg.start()
port = free_port()
(root/'m.conf').write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\nlog_dest stderr\nuser root\n")
mq = subprocess.Popen(['mosquitto', '-c', str(root/'m.conf')], stderr=subprocess.DEVNULL)
time.sleep(0.5)
bin = str(Path(sys.argv[sys.argv.index('--build-dir') + 1]) / 'scheduler' / 'slotwise-scheduler')
def start(name):
    f = open(root / f'{name}.log', 'w')
    return subprocess.Popen([bin, '--db', url, '--broker', f'tcp://127.0.0.1:{port}', '--trust-unstamped-terminals', '--poll-ms', '0'], stderr=f, stdout=f)
def wait(name, text, t=20):
    d = time.monotonic() + t
    while time.monotonic() < d:
        if text in (root / f'{name}.log').read_text(): return time.monotonic()
        time.sleep(0.01)
    return None
try:
    a = start('a'); assert wait('a', 'connected to'); b = start('b'); assert wait('b', 'standby:')
    t0 = time.monotonic(); a.send_signal(signal.SIGKILL); a.wait()
    t1 = wait('b', 'connected to')
    print(f"SIGKILL -> standby connected to the broker as leader: {t1 - t0:.2f} s" if t1 else "no takeover")
    # fencing: pause B, start C, it takes over, resume B
    c = start('c'); assert wait('c', 'standby:')
    b.send_signal(signal.SIGSTOP); t2 = time.monotonic()
    t3 = wait('c', 'connected to'); print(f"SIGSTOP -> C leads after {t3 - t2:.2f} s")
    b.send_signal(signal.SIGCONT)
    rc = b.wait(timeout=10); print("B after SIGCONT exited with", rc)
    assert rc == 3, "the paused old leader must exit with status 3 once resumed"
    assert (root/'b.log').read_text().count('connected to') == 1, "the old leader must not reconnect to the broker"
    print(''.join(l for l in (root/'b.log').read_text().splitlines(True) if 'leader' in l or 'lost' in l))
    print(''.join(l for l in (root/'c.log').read_text().splitlines(True) if 'leader' in l))
    c.send_signal(signal.SIGTERM); rc = c.wait(timeout=10); print("C exit", rc)
    assert rc == 0
    print("PASS")
finally:
    for p in (mq,):
        p.terminate(); p.wait()
    pg.cleanup()
