"""The ``digitcourse`` command: the instructor's workflow from the shell.

::

    digitcourse release [NOTEBOOK...]          student versions into release/
    digitcourse check NOTEBOOK...              self-test of an assignment before release
    digitcourse grade SUBMISSIONS_DIR          autograde every submission: grading/grades.csv + feedback
    digitcourse validate NOTEBOOK              what a student runs before submitting
    digitcourse pdf NOTEBOOK [-o OUT.pdf]      a notebook as a PDF report
    digitcourse submit NOTEBOOK                validate, PDF, and one zip to upload
    digitcourse export gradescope NOTEBOOK     a Gradescope autograder (-o autograder.zip)
    digitcourse book [--profile P] [--student] build the course book

A mistake in the command line (or a ConfigError) prints one line and exits with code 2; another
digitcourse error prints one line and exits with code 1. The command starts without torch: it loads
what a subcommand needs when it runs.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .course import GRADING_PROFILE, PROFILES
from .errors import ConfigError, DigitcourseError
from .grading.limits import Limits, describe_memory, parse_memory

DESCRIPTION = """\
The instructor's workflow for the course's graded notebooks (each notebook in notebooks/ is one
assignment, named after it): release the student versions, check an assignment's own tests,
autograde the submissions, let students validate before they submit, and build the course book."""

GRADE_EPILOG = """\
SUBMISSIONS_DIR holds <student>/<assignment>.ipynb (or nbgrader's <student>/<assignment>/<assignment>.ipynb).
Each submission runs in a sandbox of its own (bubblewrap: no network, no view of other files, its own
processes; a cgroup: the memory limit), against the instructor's notebook: read-only and test cells are
the instructor's, and each test cell is decided in the grader's own process, outside the student's
kernel. Writes OUT/grades.csv and OUT/feedback/<student>/<assignment>/*.html."""


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage mistake reported on one line."""

    def error(self, message: str) -> None:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="digitcourse", description=DESCRIPTION)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                     parser_class=_Parser)
    limits = Limits()

    release = commands.add_parser("release", help="write the student versions into release/",
                                  description="Write the student version of each notebook: solutions "
                                  "and hidden tests removed, read-only cells locked, checked for leaks.")
    release.add_argument("notebooks", nargs="*", metavar="NOTEBOOK",
                         help="source notebooks (default: every notebook in notebooks/)")
    release.add_argument("--out", default="release", help="folder to write into (default: release)")

    check = commands.add_parser("check", help="self-test an assignment's tests before release",
                                description="Check that each notebook's tests grade it right: the source "
                                "earns full marks and the blank release zero; each exercise blanked alone "
                                "loses exactly its points; and each exercise's tests catch at least the share "
                                "--goal of the mutants of its solution. Exit code 0 when everything holds, else 1.")
    check.add_argument("notebooks", nargs="+", metavar="NOTEBOOK", help="the instructor's notebooks")
    check.add_argument("--goal", type=float, default=0.9, metavar="SHARE",
                       help="share of mutants each exercise must catch (default: 0.9)")
    _add_profile(check, f"the profile the notebooks run in (default: {GRADING_PROFILE})")

    grade = commands.add_parser("grade", help="autograde a folder of submissions",
                                description="Autograde every submitted notebook, several at once.",
                                epilog=GRADE_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    grade.add_argument("submissions", metavar="SUBMISSIONS_DIR", help="the folder of submissions")
    grade.add_argument("--jobs", type=int, default=2, metavar="N", help="submissions graded at once (default: 2)")
    grade.add_argument("--timeout", type=int, default=limits.notebook, metavar="S",
                       help=f"seconds a whole notebook may run (default: {limits.notebook})")
    grade.add_argument("--cell-timeout", type=int, default=limits.cell, metavar="S",
                       help=f"seconds one cell may run (default: {limits.cell})")
    grade.add_argument("--memory", default=describe_memory(limits.memory).replace(" ", ""), metavar="SIZE",
                       help=f"memory one submission may use, e.g. 4G or 512M (default: "
                            f"{describe_memory(limits.memory)})")
    _add_profile(grade, f"the profile the notebooks run in (default: {GRADING_PROFILE})")
    grade.add_argument("--source", default="notebooks", metavar="DIR",
                       help="the instructor's notebooks, <assignment>.ipynb (default: notebooks)")
    grade.add_argument("--out", default="grading", metavar="DIR",
                       help="where grades.csv and feedback/ go (default: grading)")
    grade.add_argument("--unsafe-no-sandbox", action="store_true",
                       help="grade without the sandbox where bubblewrap is missing: student code can "
                            "then read and change every file the grader can")

    validate = commands.add_parser("validate", help="check a notebook before submitting it",
                                   description="Run a notebook as the grader does and list the cells "
                                   "that fail. Exit code 0 when every visible test passes, else 1.")
    validate.add_argument("notebook", metavar="NOTEBOOK", help="your notebook")
    _add_profile(validate, f"the profile to run in (default: {GRADING_PROFILE}, as the grader)")

    pdf = commands.add_parser("pdf", help="render a notebook as a PDF report",
                              description="Render an executed notebook (figures, tables, math, code, "
                              "written answers) as a PDF, offline (pandoc, then typst).")
    pdf.add_argument("notebook", metavar="NOTEBOOK", help="the notebook, executed")
    pdf.add_argument("-o", "--out", metavar="OUT.pdf", help="the PDF to write (default: NOTEBOOK with .pdf)")

    submit = commands.add_parser("submit", help="validate, write the PDF and zip both to upload",
                                 description="Validate your notebook (a failing test is a warning), "
                                 "render its PDF and write <assignment>.zip with both, ready to upload.")
    submit.add_argument("notebook", metavar="NOTEBOOK", help="your notebook, executed")
    submit.add_argument("--out", metavar="DIR", help="where the zip goes (default: the notebook's folder)")
    _add_profile(submit, f"the profile the tests run in (default: {GRADING_PROFILE}, as the grader)")

    export = commands.add_parser("export", help="hand an assignment over to a course platform",
                                 description="Export an assignment for a course platform.")
    platforms = export.add_subparsers(dest="platform", required=True, metavar="PLATFORM", parser_class=_Parser)
    gradescope = platforms.add_parser("gradescope", help="a Gradescope autograder zip",
                                      description="Write a Gradescope autograder for the instructor's notebook: "
                                      "setup.sh, run_autograder and the grader, in Gradescope's layout.")
    gradescope.add_argument("notebook", metavar="NOTEBOOK", help="the instructor's notebook")
    gradescope.add_argument("-o", "--out", default="autograder.zip", metavar="ZIP",
                            help="the zip to write (default: autograder.zip)")

    book = commands.add_parser("book", help="build the course book (jupyter-book)",
                               description="Execute every notebook and build the course book.")
    book.add_argument("--profile", choices=PROFILES, default="full",
                      help="the profile the notebooks run in (default: full)")
    book.add_argument("--student", action="store_true",
                      help="the student edition: no solutions, nothing executed")
    return parser


def _add_profile(parser: argparse.ArgumentParser, text: str) -> None:
    parser.add_argument("--profile", choices=PROFILES, default=GRADING_PROFILE, help=text)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line `argv` (default: sys.argv[1:]); returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        return _run(args)
    except ConfigError as error:
        print(f"digitcourse {args.command}: ConfigError: {error}", file=sys.stderr)
        return 2
    except DigitcourseError as error:
        print(f"digitcourse {args.command}: {type(error).__name__}: {error}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace) -> int:
    if args.command == "release":
        from .grading.release import release

        for path in release(args.notebooks, out=args.out):
            print(path)
    elif args.command == "check":
        from .grading.check import check

        return 0 if check(args.notebooks, goal=args.goal, profile=args.profile) else 1
    elif args.command == "grade":
        from .grading.grade import grade

        limits = Limits(cell=args.cell_timeout, notebook=args.timeout, memory=parse_memory(args.memory))
        print(grade(args.submissions, out=args.out, source=args.source, jobs=args.jobs, limits=limits,
                    profile=args.profile, isolate=not args.unsafe_no_sandbox))
    elif args.command == "validate":
        from .grading.validate import validate

        return 0 if validate(args.notebook, profile=args.profile) else 1
    elif args.command == "pdf":
        from .pdf import write_pdf

        print(write_pdf(args.notebook, args.out))
    elif args.command == "submit":
        from .grading.submit import submit

        print(submit(args.notebook, out=args.out, profile=args.profile))
    elif args.command == "export" and args.platform == "gradescope":
        from .grading.gradescope import export_gradescope

        print(export_gradescope(args.notebook, args.out))
    elif args.command == "book":
        from .book import build

        print(build(profile=args.profile, student=args.student))
    return 0
