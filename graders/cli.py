"""labgrader's command line. Heavy imports (python-chi, fabric, rich) stay inside commands,
so that `labgrader --help` answers at once."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from graders import __version__
from graders.errors import BadInput

EXIT_OK, EXIT_NOT_ALL_PASSED, EXIT_BAD_INPUT = 0, 1, 2


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_BAD_INPUT
    try:
        return args.func(args)
    except BadInput as exc:
        print(f"labgrader: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("labgrader: interrupted", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="labgrader",
        description="Grade hands-on cloud labs by observing the live systems students built.",
    )
    p.add_argument("--version", action="version", version=f"labgrader {__version__}")
    sub = p.add_subparsers(title="commands", metavar="COMMAND")

    c = sub.add_parser("check", help="grade one student's lab (students: self-check)")
    c.add_argument("lab", help="lab id, e.g. hello-chameleon (see `labgrader labs`)")
    c.add_argument("--student", required=True, metavar="FILE", help="student.yaml")
    c.add_argument("--format", choices=("text", "json", "gradescope"), default="text")
    c.add_argument("--out", metavar="FILE", help="write the report here (default: stdout)")
    c.add_argument("--rubric", metavar="FILE", help="rubric to score with (default: the lab's)")
    c.set_defaults(func=cmd_check)

    d = sub.add_parser("demo", help="grade a simulated class on loopback, end to end")
    d.add_argument("--out", metavar="DIR", default="demo-out", help="where results go")
    d.add_argument("--labs", nargs="+", default=["hello-chameleon", "cloud-chi"])
    d.set_defaults(func=cmd_demo)

    lb = sub.add_parser("labs", help="list the labs this grader knows")
    lb.set_defaults(func=cmd_labs)

    r = sub.add_parser("rubric", help="instructor tools for rubrics")
    rsub = r.add_subparsers(metavar="ACTION")
    rv = rsub.add_parser("validate", help="check a rubric against its schema and its lab")
    rv.add_argument("file")
    rv.set_defaults(func=cmd_rubric_validate)
    return p


def _load(lab_id: str, rubric_file: str | None):  # -> tuple[LabSpec, Rubric]
    from graders.labs import load_lab
    from graders.rubric import load_rubric, rubric_path

    lab = load_lab(lab_id)
    return lab, load_rubric(rubric_file or rubric_path(lab_id), lab)


def cmd_check(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from graders.files import write_atomic
    from graders.grade import grade, preflight
    from graders.report import render
    from graders.student import load_student

    student = load_student(args.student)
    lab, rubric = _load(args.lab, args.rubric)
    site = preflight(lab)
    if args.out and Path(args.out).is_dir():
        raise BadInput(f"--out {args.out} is a directory; give a file name")
    print(f"labgrader: grading {lab.id} for {student.netid} ...", file=sys.stderr)
    t0 = time.monotonic()
    result = grade(lab, rubric, student, site)
    text = render(result, args.format, execution_time=time.monotonic() - t0)
    if args.out:
        write_atomic(args.out, text)
        print(f"labgrader: wrote {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    passed = result.all_shown_passed(datetime.now(UTC))
    return EXIT_OK if passed else EXIT_NOT_ALL_PASSED


def cmd_labs(args: argparse.Namespace) -> int:
    from graders.labs import lab_ids, load_lab

    for lab_id in lab_ids():
        lab = load_lab(lab_id)
        print(f"{lab_id:20} {lab.title} ({lab.config['site']}, {len(lab.checks)} checks)")
    return EXIT_OK


def cmd_rubric_validate(args: argparse.Namespace) -> int:
    from graders.files import load_yaml
    from graders.labs import load_lab
    from graders.rubric import load_rubric

    lab_id = load_yaml(args.file, "rubric", "rubric")["lab"]
    rubric = load_rubric(args.file, load_lab(lab_id))
    print(
        f"{args.file}: valid rubric for {lab_id}: {len(rubric.items)} items, "
        f"{rubric.max_score:g} points"
    )
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from graders.demo import run_demo

    return run_demo(Path(args.out), args.labs)


if __name__ == "__main__":
    sys.exit(main())
