"""The ``digitcourse`` command: the instructor's workflow from the shell.

::

    digitcourse release [NOTEBOOK...]          student versions into release/
    digitcourse check NOTEBOOK...              self-test of an assignment before release
    digitcourse grade SUBMISSIONS_DIR          autograde every submission into grading/gradebook.db, then
                                               grading/grades.csv, feedback pages and the class report
    digitcourse mark                           grade the written answers in the browser
    digitcourse report                         the class report again: grading/report.html, summary.csv
    digitcourse export canvas --roster R -o F  Canvas's gradebook import, from the gradebook
    digitcourse validate NOTEBOOK              what a student runs before submitting
    digitcourse pdf NOTEBOOK [-o OUT.pdf]      a notebook as a PDF report
    digitcourse submit NOTEBOOK                validate, PDF, and one zip to upload
    digitcourse export gradescope NOTEBOOK     a Gradescope autograder (-o autograder.zip)
    digitcourse book [--profile P] [--jobs N | --scheduler A] [--force] [--student]
                                               build the course book (re-executing what changed)

A mistake in the command line (or a ConfigError) prints one line and exits with code 2; another
digitcourse error prints one line and exits with code 1. The command starts without torch: it loads
what a subcommand needs when it runs.
"""
from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Sequence
from pathlib import Path

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
kernel. Each result is filed in the gradebook (OUT/gradebook.db, or --gradebook) as it arrives; a
submission unchanged since it was graded is not graded again (--regrade forces it; a grader's marks
always stay). Then writes, from the gradebook, OUT/grades.csv, OUT/feedback/<student>/<assignment>/*.html
and the class report OUT/report.html with OUT/summary.csv."""

GRADEBOOK_HELP = "a gradebook file or SQLAlchemy URL, e.g. postgresql+psycopg://host/course (default: OUT/gradebook.db)"


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
    grade.add_argument("--scheduler", metavar="tcp://HOST:8786",
                       help="grade on the workers of this Dask scheduler instead of here (--jobs is then unused)")
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
    grade.add_argument("--regrade", action="store_true",
                       help="grade again the submissions that are unchanged since they were graded")
    _add_gradebook(grade)

    mark = commands.add_parser("mark", help="grade the written answers in the browser",
                               description="Start the marking app on this machine (127.0.0.1) and print "
                               "its address, with the token every request needs. Stop it with Ctrl+C: it then writes "
                               "OUT/grades.csv, the feedback pages and the class report with your marks.")
    mark.add_argument("--out", default="grading", metavar="DIR",
                      help="where the gradebook lies (default: grading)")
    _add_gradebook(mark)
    mark.add_argument("--port", type=int, default=8765, help="the port to listen on (default: 8765)")
    mark.add_argument("--grader", default=getpass.getuser(),
                      help="your name, saved with each grade (default: your login name)")

    report = commands.add_parser("report", help="write the class report from the gradebook",
                                 description="Write OUT/report.html (one self-contained page), OUT/summary.csv "
                                 "with the same numbers, OUT/grades.csv and the feedback pages, from the gradebook.")
    report.add_argument("--out", default="grading", metavar="DIR", help="where to write (default: grading)")
    _add_gradebook(report)

    export = commands.add_parser("export", help="hand grades or an assignment to a course platform",
                                 description="Hand grades or the autograder to a course platform.")
    platforms = export.add_subparsers(dest="platform", required=True, metavar="PLATFORM", parser_class=_Parser)
    canvas = platforms.add_parser("canvas", help="Canvas's gradebook import, from the gradebook",
                                  description="Fill Canvas's gradebook export (the roster) with each student's "
                                  "points per assignment, for Canvas's gradebook import. A student with no "
                                  "submission gets an empty cell, never 0.")
    canvas.add_argument("--roster", required=True, metavar="ROSTER.csv",
                        help="the CSV of Canvas's gradebook export (Grades, Export, Export Entire Gradebook)")
    canvas.add_argument("-o", "--output", required=True, metavar="CANVAS.csv", help="the file to write")
    canvas.add_argument("--match", choices=("login", "sis", "id"), default="login",
                        help="the roster column the submission folders are named by: SIS Login ID, SIS User "
                             "ID or Canvas ID (default: login)")
    canvas.add_argument("--allow-partial", action="store_true",
                        help="fill in the points so far where written answers are still to mark")
    canvas.add_argument("--out", default="grading", metavar="DIR",
                        help="where the gradebook lies (default: grading)")
    _add_gradebook(canvas)
    gradescope = platforms.add_parser("gradescope", help="a Gradescope autograder zip",
                                      description="Write a Gradescope autograder for the instructor's notebook: "
                                      "setup.sh, run_autograder and the grader, in Gradescope's layout.")
    gradescope.add_argument("notebook", metavar="NOTEBOOK", help="the instructor's notebook")
    gradescope.add_argument("-o", "--output", default="autograder.zip", metavar="ZIP",
                            help="the zip to write (default: autograder.zip)")

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

    book = commands.add_parser("book", help="build the course book (jupyter-book)",
                               description="Execute the notebooks that changed since their last run "
                               "(source, parameters, profile, library or data) and build the course book.")
    book.add_argument("--profile", choices=PROFILES, default="full",
                      help="the profile the notebooks run in (default: full)")
    book.add_argument("--force", action="store_true", help="execute every notebook, changed or not")
    book.add_argument("--jobs", type=int, default=1, metavar="N",
                      help="notebooks executed at once, sharing the cores (default: 1)")
    book.add_argument("--scheduler", metavar="tcp://HOST:8786",
                      help="execute the notebooks on the workers of this Dask scheduler (--jobs is then unused)")
    book.add_argument("--student", action="store_true",
                      help="the student edition: no solutions, nothing executed")
    return parser


def _add_gradebook(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--gradebook", metavar="FILE_OR_URL", help=GRADEBOOK_HELP)


def _gradebook(args: argparse.Namespace) -> str:
    return args.gradebook or str(Path(args.out) / "gradebook.db")


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
        from .grading.selftest import check

        return 0 if check(args.notebooks, goal=args.goal, profile=args.profile) else 1
    elif args.command == "grade":
        from .grading.grade import grade

        limits = Limits(cell=args.cell_timeout, notebook=args.timeout, memory=parse_memory(args.memory))
        grade(args.submissions, out=args.out, source=args.source, jobs=args.jobs, limits=limits,
              profile=args.profile, isolate=not args.unsafe_no_sandbox, gradebook=_gradebook(args),
              regrade=args.regrade, scheduler=args.scheduler)
        print(Path(args.out) / "grades.csv")
    elif args.command == "mark":
        from .grading.grade import export
        from .grading.gradebook import Gradebook
        from .grading.marking import serve

        with Gradebook.open(_gradebook(args)) as book:
            serve(book, port=args.port, grader=args.grader)
            export(book, Path(args.out))  # the marks just given reach grades.csv, the feedback and the report
        print(f"wrote {Path(args.out) / 'grades.csv'}, the feedback pages and {Path(args.out) / 'report.html'}")
    elif args.command == "report":
        from .grading.grade import export
        from .grading.gradebook import Gradebook

        with Gradebook.open(_gradebook(args)) as book:
            export(book, Path(args.out))
        print(Path(args.out) / "report.html")
    elif args.command == "export" and args.platform == "canvas":
        _export_canvas(args)
    elif args.command == "export" and args.platform == "gradescope":
        from .grading.gradescope import export_gradescope

        print(export_gradescope(args.notebook, args.output))
    elif args.command == "validate":
        from .grading.validate import validate

        return 0 if validate(args.notebook, profile=args.profile) else 1
    elif args.command == "pdf":
        from .pdf import write_pdf

        print(write_pdf(args.notebook, args.out))
    elif args.command == "submit":
        from .grading.submit import submit

        print(submit(args.notebook, out=args.out, profile=args.profile))
    elif args.command == "book":
        from .book import build

        print(build(profile=args.profile, student=args.student, force=args.force, jobs=args.jobs,
                    scheduler=args.scheduler))
    return 0


def _export_canvas(args: argparse.Namespace) -> None:
    from .files import atomic_write
    from .grading.canvas import fill, read_roster
    from .grading.class_report import write_report
    from .grading.gradebook import Gradebook

    roster = Path(args.roster)
    if not roster.is_file():
        raise ConfigError(f"No roster {roster}.")
    location = _gradebook(args)
    if "://" not in location and not Path(location).is_file():
        raise ConfigError(f"No gradebook {location}: grade the submissions first (digitcourse grade), or "
                          "pass --gradebook.")
    with Gradebook.open(location) as book:
        export = fill(read_roster(roster.read_text(encoding="utf-8"), source=str(roster)), book,
                      match=args.match, allow_partial=args.allow_partial)
        atomic_write(Path(args.output), export.to_csv())
        if export.unmatched:  # the class report lists them too
            write_report(book, Path(args.out), export.unmatched)
    if export.unmatched:
        count = len(export.unmatched)
        print(f"{count} submission folder{'s match' if count > 1 else ' matches'} no student of the roster "
              f"(--match {args.match}): {', '.join(export.unmatched)}", file=sys.stderr)
    waiting: dict[str, list[str]] = {}
    for student, assignment in export.partial:
        waiting.setdefault(assignment, []).append(student)
    for assignment, students in waiting.items():
        print(f"{assignment}: {len(students)} student{'s' if len(students) > 1 else ''} left empty, written "
              f"answers still to mark (--allow-partial fills them): {', '.join(students)}", file=sys.stderr)
    print(args.output)
