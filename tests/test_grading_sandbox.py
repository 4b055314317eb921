"""A student's kernel in its sandbox, and tests decided outside it: what the kernel may see and use,
and what a test cell can do with the exercises it calls."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path
from time import monotonic, sleep

import pytest
from nbformat.v4 import new_code_cell, new_notebook

from digitcourse.course import PACKAGE
from digitcourse.grading.student.figures import SHOWN_AS
from digitcourse.grading.student.kernel import Kernel
from digitcourse.grading.limits import Limits, describe_memory, parse_memory
from digitcourse.grading.student.sandbox import Sandbox
from digitcourse.grading.student.zygote import Spawn, Zygote, ZygoteError
from digitcourse.grading.student.remote import KernelLost, Session
from digitcourse.grading.verdict import Verdicts
from digitcourse.grading.worker import FIGURES

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.slow, pytest.mark.needs("sandbox")]


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    os.environ["DIGITCOURSE_TEST_SECRET"] = "the grader's token"
    with Kernel(Sandbox(tmp_path_factory.mktemp("sandbox"), 1024 * 2 ** 20), {"OMP_NUM_THREADS": "1"},
                Zygote.shared()) as started:
        assert started.start_agent(60).status == "ok"
        yield started


def printed(kernel: Kernel, code: str) -> str:
    run = kernel.run(code, 60)
    assert run.status == "ok", run.error
    return "".join(output.get("text", "") for output in run.outputs)


def command_line(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text(errors="replace")
    except OSError:  # not a process, or one that has ended
        return ""


def test_the_kernel_sees_the_python_environment_and_its_scratch_folder_only(kernel):
    shown = printed(kernel, f"import os, sys\nprint(sorted(os.listdir({str(ROOT)!r})))\n"
                            "print(os.getcwd(), os.environ['HOME'])\nprint(sorted(os.environ))")
    listing, folders, variables = shown.splitlines()
    assert "'notebooks'" not in listing and "'tests'" not in listing and "'digitcourse'" in listing
    assert folders.split()[0].startswith(str(kernel.sandbox.scratch)) and "DIGITCOURSE_TEST_SECRET" not in variables
    assert printed(kernel, "import os\nprint(os.getpid(), os.path.exists('/root/.bashrc'))").split()[1] == "False"


def test_the_kernel_has_no_capabilities_and_cannot_make_a_read_only_folder_writable(kernel):
    """Run by root (as in CI), bubblewrap alone would leave the kernel every capability in its
    namespaces: enough to remount the package's folder writable and change the grader's own code."""
    probe = PACKAGE / "written-by-a-student"
    try:
        shown = printed(kernel, f"import subprocess\n"
                                f"subprocess.run(['mount', '-o', 'remount,rw,bind', {str(PACKAGE)!r}],\n"
                                f"               capture_output=True)\n"
                                f"try:\n    open({str(probe)!r}, 'w').close()\n"
                                f"except OSError as error:\n    print('refused', error.strerror)\n"
                                "print(next(line for line in open('/proc/self/status') if line.startswith('CapEff')))")
        assert not probe.exists() and "refused Read-only file system" in shown
        assert shown.split()[-1] == "0000000000000000"
    finally:
        probe.unlink(missing_ok=True)


def test_a_kernel_forked_by_the_zygote_is_in_the_sandbox_and_holds_nothing_of_the_graders(tmp_path):
    zygote = Zygote.shared()
    process = next(pid for pid in os.listdir("/proc") if str(zygote.address.parent) in command_line(pid)
                   and Path(f"/proc/{pid}/stat").read_text().split()[3] == str(os.getpid()))  # not its kernels
    channels = {os.readlink(f"/proc/{process}/fd/{fd}") for fd in os.listdir(f"/proc/{process}/fd")}
    sandbox = Sandbox(tmp_path, 1024 * 2 ** 20)
    with Kernel(sandbox, {}, zygote) as forked:
        shown = printed(forked, "import os\n"
                                "print(all(os.stat(f'/proc/self/ns/{n}').st_ino == os.stat(f'/proc/1/ns/{n}').st_ino\n"
                                "          for n in ('user', 'mnt', 'pid', 'net', 'ipc', 'uts', 'cgroup')))\n"
                                "print(os.stat('/proc/self/ns/mnt').st_ino)\n"
                                "print(*(os.readlink(f'/proc/self/fd/{fd}') for fd in os.listdir('/proc/self/fd')\n"
                                "        if os.path.exists(f'/proc/self/fd/{fd}')))  # not the listing's own\n"
                                "print(*(item.split('=')[0] for item in open('/proc/self/environ').read().split('\\0')\n"
                                "        if item))")
    same, (namespace,), held, inherited = (line.split() for line in shown.splitlines())
    assert same == ["True"] and int(namespace) != os.stat("/proc/self/ns/mnt").st_ino
    assert not {fd for fd in held if not fd.startswith("anon_inode:")} & channels
    # what the kernel's process was started with (the zygote's environment): none of the grader's variables
    assert set(inherited) <= {*sandbox.environment({}), "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OMP_WAIT_POLICY"}


def test_a_forked_kernel_multiplies_on_the_threads_it_was_given(tmp_path):
    with Kernel(Sandbox(tmp_path, 1024 * 2 ** 20), {"OMP_NUM_THREADS": "2"}, Zygote.shared()) as forked:
        run = forked.run("import torch\nx = torch.randn(1500, 1500)\nfor _ in range(3):\n    x = x @ x / 40\n"
                         "print(torch.get_num_threads())", 60)  # GNU OpenMP forked with a pool of threads: stuck
        assert run.status == "ok" and run.outputs[0]["text"] == "2\n", run.status


def test_a_kernel_the_zygote_cannot_start_is_one_clear_error_and_the_zygote_goes_on(tmp_path):
    held = tmp_path / "alive"
    held.touch()
    spawn = Spawn("kernel.json", str(tmp_path / "missing"), {}, [], 2 ** 30, None, str(held))
    for attempt in range(2):
        with pytest.raises(ZygoteError, match=r"could not start a kernel: FileNotFoundError.*missing"):
            Zygote.shared().spawn(spawn, 2, 60)


def test_the_kernel_has_no_network_not_even_the_graders_loopback(kernel):
    shown = printed(kernel, "import socket\ntry:\n    socket.create_connection(('1.1.1.1', 53), timeout=2)\n"
                            "except OSError as error:\n    print(error.errno)")
    assert shown.strip() == "101"  # ENETUNREACH: no interface but the sandbox's own loopback


def test_a_cell_over_its_time_is_interrupted_and_the_kernel_goes_on(kernel):
    assert kernel.run("while True:\n    pass", 2).status == "timeout"
    assert printed(kernel, "print('still here')") == "still here\n"


def test_memory_beyond_the_limit_kills_the_kernel_and_says_so(tmp_path):
    with Kernel(Sandbox(tmp_path, 400 * 2 ** 20), {}, Zygote.shared()) as small:
        assert small.run("blob = bytearray(1024 ** 3)", 60).status == "memory"


def test_every_process_dies_with_the_sandbox(tmp_path):
    with Kernel(Sandbox(tmp_path, 1024 * 2 ** 20), {}, Zygote.shared()) as doomed:
        doomed.run("import subprocess\nsubprocess.Popen(['sleep', '77.25'], start_new_session=True)", 30)
        assert subprocess.run(["pgrep", "-f", "sleep 77.25"], capture_output=True).returncode == 0
    assert subprocess.run(["pgrep", "-f", "sleep 77.25"], capture_output=True).returncode == 1


def test_without_isolation_the_kernel_still_ends_with_the_process_holding_it(tmp_path):
    with Kernel(Sandbox(tmp_path, 1024 * 2 ** 20, isolate=False), {}, Zygote.shared()) as unsafe:
        pid = int(printed(unsafe, "import os\nprint(os.getpid())"))
    deadline = monotonic() + 10
    while Path(f"/proc/{pid}").exists() and Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z":
        assert monotonic() < deadline, "the kernel outlived the process that held it"
        sleep(0.1)


def test_the_graders_kernel_makes_figures_without_drawing_them_and_closes_them_after_each_cell(tmp_path):
    with Kernel(Sandbox(tmp_path, 1024 * 2 ** 20), {"MPLBACKEND": FIGURES}, Zygote.shared()) as grading:
        run = grading.run("import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\nax.plot([3, 1, 2])\n"
                          "plt.figure()\nfig", 60)
        assert run.status == "ok", run.error
        assert [output.data for output in run.outputs] == [{"text/plain": SHOWN_AS}]  # no image/png
        assert printed(grading, "print(plt.get_fignums(), ax.lines[0].get_ydata().tolist())") == "[] [3, 1, 2]\n"
        assert printed(grading, "plt.plot([1])\nplt.show()\nprint(plt.get_fignums())") == "[]\n"


def verdicts_over(*cells: str) -> Verdicts:
    """Verdicts over a notebook whose last cell is the test ("the_test") and the others exercises."""
    notebook = new_notebook(cells=[new_code_cell("import torch\nimport digitcourse as dc")])
    for number, source in enumerate(cells[:-1]):
        notebook.cells.append(new_code_cell(source, metadata={"nbgrader": {"grade_id": f"exercise{number}",
                                                                           "solution": True}}))
    notebook.cells.append(new_code_cell(cells[-1], metadata={"nbgrader": {"grade_id": "the_test", "grade": True,
                                                                          "points": 1}}))
    return Verdicts(notebook)


def decide(kernel: Kernel, tests: Verdicts, student_code: str, seconds: float = 60):
    """The test's outcome after the student's kernel ran `student_code`."""
    assert kernel.run(student_code, 60).status == "ok"
    return tests.run("the_test", Session(kernel, monotonic() + seconds))


def test_a_test_works_with_an_instance_of_the_students_class(kernel):
    tests = verdicts_over("class Layer:\n    pass",
                      "layer = Layer(3)\nassert layer.size == 3 and layer(torch.ones(2)).tolist() == [3.0, 3.0]\n"
                      "assert len(layer) == 3 and list(layer) == [0, 1, 2] and layer[1] == 1\n"
                      "assert sum(p.numel() for p in layer.parameters()) == 3")
    outcome = decide(kernel, tests, "import torch\nclass Layer:\n    def __init__(self, size):\n        self.size = size\n"
                                    "    def __call__(self, x):\n        return x * self.size\n"
                                    "    def __len__(self):\n        return self.size\n"
                                    "    def __iter__(self):\n        return iter(range(self.size))\n"
                                    "    def __getitem__(self, i):\n        return i\n"
                                    "    def parameters(self):\n        return iter([torch.zeros(3)])")
    assert outcome.passed, outcome.error


def test_a_test_can_replace_an_exercise_the_tested_one_calls(kernel):
    tests = verdicts_over("def inner(x):\n    pass", "def outer(x):\n    pass",
                      "def reference(x):\n    return x + 100\n"
                      "with dc.grading.substitute(inner=reference):\n    assert outer(1) == 202\n"
                      "assert outer(1) == -2")
    outcome = decide(kernel, tests, "def inner(x):\n    return -x\ndef outer(x):\n    return 2 * inner(x)")
    assert outcome.passed, outcome.error


def test_the_students_error_keeps_its_type_and_a_broken_kernel_fails_the_test(kernel):
    tests = verdicts_over("def f(x):\n    pass", "try:\n    f(-1)\nexcept ValueError as error:\n    assert 'negative' in str(error)\n"
                                           "else:\n    raise AssertionError('no error')")
    assert decide(kernel, tests, "def f(x):\n    raise ValueError('negative input')").passed
    tests = verdicts_over("def f(x):\n    pass", "f(0)")
    outcome = decide(kernel, tests, "class Odd(Exception):\n    pass\ndef f(x):\n    raise Odd('mine')")
    assert not outcome.passed and outcome.error == "StudentError: Odd: mine"
    with pytest.raises(KernelLost, match="the student's code ran out of time in this test"):
        decide(kernel, tests, "def f(x):\n    while True:\n        pass", seconds=2)
    assert printed(kernel, "print('alive')") == "alive\n"


def test_limits_are_checked_and_sizes_read_and_written():
    assert parse_memory("4G") == 4 * 2 ** 30 and parse_memory("512MiB") == 512 * 2 ** 20
    assert parse_memory("1.5G") == int(1.5 * 2 ** 30) and describe_memory(Limits().memory) == "4 GiB"
    with pytest.raises(ValueError, match="memory='lots' is not a size"):
        parse_memory("lots")
    with pytest.raises(ValueError, match="cell_timeout=0 is out of range"):
        Limits(cell=0)


STATEFUL_TEST = """x = torch.tensor([1.0, 2.0], requires_grad=True)
generator = torch.Generator().manual_seed(0)
first, second = square_gradient(x, generator), square_gradient(x, generator)
assert torch.equal(first, torch.tensor([2.0, 4.0])) and torch.equal(second, first), f"2x twice; got {second.tolist()}"
assert x.grad is None and x.requires_grad, "the argument is left as it was"
assert not torch.equal(generator.get_state(), torch.Generator().manual_seed(0).get_state()), "draws advance it"
"""
RIGHT_STATEFUL = ("import torch\ndef square_gradient(x, generator):\n    torch.rand(1, generator=generator)\n"
                  "    return torch.autograd.grad((x ** 2).sum(), x)[0]")
WRONG_STATEFUL = {  # each leaves state on its arguments that the test sees only in the same objects
    "accumulated .grad": RIGHT_STATEFUL.replace("return torch.autograd.grad((x ** 2).sum(), x)[0]",
                                                "(x ** 2).sum().backward()\n    return x.grad.clone()"),
    "requires_grad switched off": RIGHT_STATEFUL.replace("    return torch.autograd.grad((x ** 2).sum(), x)[0]",
                                                         "    x.requires_grad_(False)\n    return 2 * x.detach()"),
    "a private generator": RIGHT_STATEFUL.replace("generator=generator)",
                                                  "generator=torch.Generator().manual_seed(generator.initial_seed()))"),
}


@pytest.mark.parametrize("student", ["right", *WRONG_STATEFUL])
def test_a_test_cell_gives_the_same_verdict_in_the_students_kernel_and_in_grading(kernel, student):
    code = WRONG_STATEFUL.get(student, RIGHT_STATEFUL)
    graded = decide(kernel, verdicts_over("def square_gradient(x, generator):\n    pass", STATEFUL_TEST), code).passed
    own = kernel.run(f"{code}\n{STATEFUL_TEST}", 60)  # as the student's own run (and validate) sees it
    assert own.status in ("ok", "error") and graded == (own.status == "ok") == (student == "right"), own.error


def test_an_argument_the_exercise_returns_is_the_tests_own_object(kernel):
    tests = verdicts_over("def same(value):\n    pass", "x = torch.ones(2)\nassert same(x) is x and same([x])[0] is x")
    assert decide(kernel, tests, "def same(value):\n    return value").passed
    assert not decide(kernel, tests, "def same(value):\n    return value.clone()").passed
