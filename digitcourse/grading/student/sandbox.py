"""A sandbox per submission: bubblewrap for what the student's kernel may see, a cgroup for what it may use.

`Sandbox.command(argv)` wraps the kernel's command line so that it runs

- in bubblewrap (``bwrap``, Debian's package; what Flatpak uses) with new user, PID, network, IPC and
  UTS namespaces and no capabilities, even when the grader runs as root: no network at all, its own
  process tree (when the kernel's process ends, every process it started ends with it), and a private
  filesystem view holding only the system's programs and libraries, the Python environment and this
  digitcourse package (read-only), the data root (read-only), a fresh /tmp, and its scratch folder
  (the only place it can write: the kernel's working folder with its copy of the notebook, its home,
  and the sockets it talks to the grader on);
- with a memory limit and a limit on the number of processes, from a cgroup of its own (cgroup v2, or
  v1's memory and pids controllers); where no cgroup can be made, an address-space limit per process.

`available()` says whether bubblewrap works here; `digitcourse grade` refuses to run student code
without it unless told ``--unsafe-no-sandbox``.
"""
from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

from ...course import DATA_VARIABLE, PACKAGE, ROOT, data_root

_SYSTEM = ["/usr", "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/alternatives",
           "/etc/fonts", "/etc/localtime", "/etc/passwd", "/etc/group", "/etc/nsswitch.conf",
           "/sys/devices/system/cpu"]
_MERGED_USR = {"/bin": "usr/bin", "/sbin": "usr/sbin", "/lib": "usr/lib", "/lib64": "usr/lib64"}
_CGROUP_ROOT = Path("/sys/fs/cgroup")
MAX_PROCESSES = 512  # threads count too: torch starts one per core and more


@functools.cache
def available() -> bool:
    """Whether bubblewrap runs here (installed, and allowed to make namespaces)."""
    if shutil.which("bwrap") is None:
        return False
    probe = subprocess.run(["bwrap", "--unshare-all", "--ro-bind", "/", "/", "true"], capture_output=True)
    return probe.returncode == 0


WHY_NOT_HERE = ("the sandbox for student code (bubblewrap) is not available here: install it "
                "(apt-get install bubblewrap)")
WHY_NOT = f"{WHY_NOT_HERE} or, to grade without it, pass --unsafe-no-sandbox"


@dataclass
class Sandbox:
    """The walls around one submission's kernel. scratch: its writable folder; memory: bytes."""

    scratch: Path
    memory: int
    isolate: bool = True  # False: limits only (`--unsafe-no-sandbox`)

    def __post_init__(self):
        self.cgroups = _make_cgroups(self.memory)

    def command(self, argv: list[str], env: dict[str, str]) -> list[str]:
        """`argv` wrapped: joined to this sandbox's cgroups, then (when isolating) run in bubblewrap
        with the environment `env` and nothing else."""
        inner = self._bubblewrap(argv, env) if self.isolate else argv
        if self.cgroups:
            joins = " && ".join(f"echo $$ > {group / 'cgroup.procs'}" for group in self.cgroups)
            return ["sh", "-c", f'{joins} && exec "$@"', "sandbox", *inner]
        return ["prlimit", f"--as={self.memory}", "--", *inner] if shutil.which("prlimit") else inner

    def environment(self, extra: dict[str, str]) -> dict[str, str]:
        """The kernel's whole environment: see `environment`."""
        return environment(self.scratch, self.isolate, extra)

    def memory_exceeded(self) -> bool:
        """Whether the kernel was killed for using more memory than allowed."""
        for group in self.cgroups:
            for name, key in (("memory.events", "oom_kill"), ("memory.oom_control", "oom_kill")):
                path = group / name
                if path.exists():
                    counts = dict(line.split() for line in path.read_text().splitlines() if " " in line)
                    if int(counts.get(key, 0)) > 0:
                        return True
        return False

    def remove(self) -> None:
        """Remove the cgroups (once every process in them has ended)."""
        for group in self.cgroups:
            try:
                group.rmdir()
            except OSError:
                pass

    def _bubblewrap(self, argv: list[str], env: dict[str, str]) -> list[str]:
        binds: list[str] = []
        for path in _SYSTEM:
            if os.path.exists(path):
                binds += ["--ro-bind", path, path]
        for link, target in _MERGED_USR.items():
            binds += ["--symlink", target, link] if os.path.islink(link) else (
                ["--ro-bind", link, link] if os.path.exists(link) else [])
        for path in sorted(_python_paths()):
            binds += ["--ro-bind", path, path]
        root = data_root()
        if root.is_dir():
            binds += ["--ro-bind", str(root.resolve()), str(root.resolve())]
        scratch = str(self.scratch.resolve())
        # --cap-drop ALL: run by root, bubblewrap would leave the kernel every capability in its namespaces,
        # enough to remount a read-only folder writable and write the grader's files through it
        return ["bwrap", "--unshare-all", "--cap-drop", "ALL", "--die-with-parent", "--new-session", "--clearenv",
                "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--tmpfs", "/dev/shm", *binds,
                "--bind", scratch, scratch, "--chdir", str(self.scratch.resolve() / "work"),
                *[item for name, value in env.items() for item in ("--setenv", name, value)],
                *argv]


def environment(scratch: Path, isolate: bool, extra: dict[str, str]) -> dict[str, str]:
    """A kernel's whole environment (nothing of the grader's is passed on): `extra` and what Python,
    matplotlib and Jupyter need to run from the folder `scratch`."""
    home = scratch / "home"
    home.mkdir(parents=True, exist_ok=True)
    env = {"PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/bin", "/bin"]),
           "HOME": str(home), "TMPDIR": "/tmp" if isolate else str(scratch),
           "LANG": "C.UTF-8", "PYTHONNOUSERSITE": "1", "PYTHONPATH": str(ROOT),
           "MPLCONFIGDIR": str(home / ".matplotlib"), "MPLBACKEND": "Agg",
           "JUPYTER_CONFIG_DIR": str(home / ".jupyter"), "IPYTHONDIR": str(home / ".ipython")}
    root = data_root()
    if root.is_dir():
        env[DATA_VARIABLE] = str(root.resolve())
    return {**env, **extra}


def _python_paths() -> set[str]:
    """The folders the kernel's Python needs: the environment, the installation it comes from, and
    this digitcourse package (not the repository around it: that holds the solutions)."""
    paths = {sys.prefix, sys.base_prefix, str(Path(sys.executable).resolve().parent), str(PACKAGE)}
    return {str(Path(path).resolve()) for path in paths}


def _make_cgroups(memory: int) -> list[Path]:
    """New cgroups limiting memory (without swap) and processes: one of cgroup v2, or v1's memory and
    pids groups; [] where none can be made here."""
    name = f"digitcourse-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    unified = _CGROUP_ROOT / "cgroup.controllers"
    if unified.exists() and "memory" in unified.read_text().split():
        return _try_groups([(_CGROUP_ROOT / name, {"memory.max": memory, "memory.swap.max": 0,
                                                   "pids.max": MAX_PROCESSES})])
    return _try_groups([(_CGROUP_ROOT / "memory" / name,
                         {"memory.limit_in_bytes": memory, "memory.memsw.limit_in_bytes": memory}),
                        (_CGROUP_ROOT / "pids" / name, {"pids.max": MAX_PROCESSES})])


def _try_groups(groups: list[tuple[Path, dict[str, int]]]) -> list[Path]:
    """The groups that could be made and limited; [] unless the first (memory) is one of them."""
    made = []
    for group, limits in groups:
        try:
            group.mkdir()
        except OSError:
            continue
        try:
            for name, value in limits.items():
                if (group / name).exists():
                    (group / name).write_text(str(value))
            made.append(group)
        except OSError:
            group.rmdir()
    if made and made[0] != groups[0][0]:
        for group in made:
            group.rmdir()
        return []
    return made
