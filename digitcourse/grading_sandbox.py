"""Running untrusted student code in a child process with a time limit and, where possible, no network.

:func:`run_limited` starts a command in its own process group and kills the whole group when it
overruns. Where the platform allows unprivileged namespaces (Linux with ``unshare`` and ``ip``), the
command also runs in

- a new network namespace with only a loopback interface (the kernel talks to its grader over
  loopback; nothing else is reachable), and
- a new PID namespace: when the command dies or is killed, Linux kills every process it left behind,
  kernels included, even those that started their own session.

Elsewhere the network is cut only for HTTP clients, by proxy variables that point at a dead address.
"""
from __future__ import annotations

import functools
import os
import shutil
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

# `unshare` runs `sh` as the first process of fresh user, network and PID namespaces; `sh` brings the
# loopback interface up and becomes the command. If `unshare` dies, the first process is killed too.
_NAMESPACES = ["unshare", "--user", "--map-root-user", "--net", "--pid", "--fork", "--kill-child",
               "sh", "-c", 'ip link set lo up && exec "$0" "$@"']
_DEAD_PROXY = "http://127.0.0.1:9"  # the discard port: nothing listens there


@functools.cache
def network_isolation() -> str:
    """How :func:`run_limited` cuts the network here: ``"namespace"`` or ``"proxy"``."""
    if shutil.which("unshare") and shutil.which("ip"):
        probe = subprocess.run(_NAMESPACES + ["true"], capture_output=True)
        if probe.returncode == 0:
            return "namespace"
    return "proxy"


def run_limited(command: Sequence[str], *, timeout: float, env: Mapping[str, str],
                log: Path) -> int | None:
    """Run `command` with its output in the file `log`; its exit code, or None if it was killed.

    The command runs in its own process group (and namespaces, see the module's docstring) and is
    killed, with every process it started, after `timeout` seconds.
    """
    env = dict(env)
    if network_isolation() == "namespace":
        command = _NAMESPACES + list(command)
    else:
        env.update({name: _DEAD_PROXY for name in
                    ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")})
        env.update(no_proxy="", NO_PROXY="")
    with open(log, "wb") as out:
        child = subprocess.Popen(list(command), env=env, stdout=out, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            return child.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
            return None
