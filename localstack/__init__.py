"""localstack: a complete Slotwise stack on 127.0.0.1, for the demo, the
end-to-end tests and the deployment files.

    python3 -m localstack demo|up ...        (from the repository root; see cli.py)

    import localstack as ls
    with ls.Stack("build", slot_seconds=2) as stack:
        stack.start()                                   # broker + scheduler, ready
        ls.build_demo_topology(stack, per_slot=2)       # S1: 2 clusters x 2 nodes, version 2.0.0
        agents = stack.spawn_fleet(24)                  # T001..T024 around the clusters
        stack.cli("campaign", "create", "c1", "--version", "2.0.0", "--terminals", "T001,T002")
        report = stack.cli_json("campaign", "status", "c1")
        downloads = stack.downloads("/fw-2.0.0.bin")    # from the nginx access logs

Modules, each one concern:
  processes    start a process with its log, stop it by its pid, free ports, waiting
  configs      every config file: mosquitto.conf, nginx.conf, password files,
               agent config, the scheduler's flags (the one source of them)
  credentials  the stack's broker passwords and the plugin's password file
  operator     the operator's side: the real `slotwise` CLI
  stack        the Stack: broker + plugin (or shards behind HAProxy), scheduler,
               nginx nodes, agents
  evidence     nginx access logs read back: downloads, per node per slot counts
  demo         the demo run and `up`
  cli          the command line

Python 3 standard library only.
"""

from .configs import NEW_VERSION, OLD_VERSION, OPERATOR_USERNAME, SERVICE_USERNAME, TlsListener
from .credentials import OPERATOR_PASSWORD, SERVICE_PASSWORD
from .demo import DEMO_CLUSTERS, build_demo_topology, up_commands, write_env_file
from .evidence import Download, campaign_table, fmt_ms, node_slot_table, parse_ms, render_table
from .processes import (Process, StackError, find_tool, free_port, install_signal_handlers,
                        port_open, raise_nofile_limit, stop_popen, stop_processes, tail,
                        wait_port, wait_until)
from .stack import REPO_ROOT, Agent, Node, Shard, Stack, resolve_build_dir

LocalStack = Stack  # the name the tests and fleet/fleet.py know

__all__ = [
    "NEW_VERSION", "OLD_VERSION", "OPERATOR_USERNAME", "SERVICE_USERNAME", "TlsListener",
    "OPERATOR_PASSWORD", "SERVICE_PASSWORD",
    "DEMO_CLUSTERS", "build_demo_topology", "up_commands", "write_env_file",
    "Download", "campaign_table", "fmt_ms", "node_slot_table", "parse_ms", "render_table",
    "Process", "StackError", "find_tool", "free_port", "install_signal_handlers", "port_open",
    "raise_nofile_limit", "stop_popen", "stop_processes", "tail", "wait_port", "wait_until",
    "REPO_ROOT", "Agent", "Node", "Shard", "Stack", "resolve_build_dir", "LocalStack",
]
