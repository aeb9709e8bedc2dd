"""labgrader's command line: it parses arguments and calls one function per command.
Those functions' modules are imported inside the commands (python-chi, fabric and rich are
heavy), so that `labgrader --help` answers at once."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from graders import __version__
from graders.errors import EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_OK, BadInput
from graders.report import FORMATS
from graders.signing import staff_key


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
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `labgrader labs | head`: the reader left; nothing to say
        sys.stderr.close()
        return EXIT_OK


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="labgrader",
        description="Grade hands-on cloud labs by observing the live systems students built.",
    )
    p.add_argument("--version", action="version", version=f"labgrader {__version__}")
    sub = p.add_subparsers(title="commands", metavar="COMMAND")

    _grading_commands(sub)
    _batch_commands(sub)
    _staff_tools(sub)
    return p


def _grading_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    c = sub.add_parser("check", help="grade one student's lab (students: self-check)")
    c.add_argument("lab", help="lab id, e.g. hello-chameleon (see `labgrader labs`)")
    c.add_argument("--student", required=True, metavar="FILE", help="student.yaml")
    c.add_argument("--format", choices=tuple(FORMATS), default="text")
    c.add_argument("--out", metavar="FILE", help="write the report here (default: stdout)")
    c.add_argument("--rubric", metavar="FILE", help="rubric to score with (default: the lab's)")
    c.add_argument(
        "--show-hidden",
        action="store_true",
        help="staff: show hidden checks in full (the Gradescope autograder's run: Gradescope "
        "applies visibility itself)",
    )
    c.set_defaults(func=cmd_check)

    d = sub.add_parser("demo", help="grade a simulated class on loopback, end to end")
    d.add_argument("--out", metavar="DIR", default="demo-out", help="where results go")
    d.add_argument("--labs", nargs="+", default=["hello-chameleon", "cloud-chi"])
    d.set_defaults(func=cmd_demo)

    lb = sub.add_parser("labs", help="list the labs this grader knows")
    lb.set_defaults(func=cmd_labs)

    k = sub.add_parser("course-key", help="print the course staff key students add to their VMs")
    k.set_defaults(func=cmd_course_key)


def _batch_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    b = sub.add_parser("batch", help="grade a whole roster (TAs)")
    b.add_argument("lab")
    b.add_argument(
        "--roster",
        required=True,
        metavar="CSV",
        help="netid,chameleon_user[,ssh_key,email,section,project,repo,github_repo]",
    )
    b.add_argument(
        "--ssh-key",
        metavar="FILE",
        help="the course staff key (private half) to log in with; a roster ssh_key overrides it",
    )
    b.add_argument("--out", required=True, metavar="DIR", help="results, gradebooks, store")
    b.add_argument("--jobs", type=int, default=64, metavar="N", help="students at once")
    b.add_argument("--resume", action="store_true", help="grade only students not yet stored")
    b.add_argument("--shard", metavar="K/N", help="grade only slice K of N (1-based)")
    b.add_argument("--rubric", metavar="FILE")
    _signing_key_option(b)
    b.set_defaults(func=cmd_batch)

    rs = sub.add_parser("rescore", help="recompute results from a store, without the network")
    rs.add_argument("lab")
    rs.add_argument("--store", required=True, metavar="FILE")
    rs.add_argument("--rubric", metavar="FILE")
    rs.add_argument("--out", metavar="DIR", help="write results here (default: the store's folder)")
    _signing_key_option(rs)
    rs.set_defaults(func=cmd_rescore)

    m = sub.add_parser("merge", help="join shard stores into one batch folder")
    m.add_argument("lab")
    m.add_argument("stores", nargs="+", metavar="STORE")
    m.add_argument("--out", required=True, metavar="DIR")
    m.add_argument("--rubric", metavar="FILE")
    _signing_key_option(m)
    m.set_defaults(func=cmd_merge)

    v = sub.add_parser("verify", help="check the staff signature of result files (staff)")
    v.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help="result.json or results.json files, or batch folders (every one in them)",
    )
    _signing_key_option(v)
    v.set_defaults(func=cmd_verify)


def _signing_key_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--signing-key",
        metavar="FILE",
        help="the staff key that signs results (default: the file LABGRADER_SIGNING_KEY names)",
    )


def _staff_tools(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    co = sub.add_parser("course", help="the course file: sites, credentials, staff key, weights")
    co.set_defaults(func=cmd_course_show)
    cosub = co.add_subparsers(metavar="ACTION")
    cv = cosub.add_parser("validate", help="check a course file, weights included")
    cv.add_argument("file")
    cv.set_defaults(func=cmd_course_validate)

    r = sub.add_parser("rubric", help="instructor tools for rubrics")
    r.set_defaults(func=lambda args: _help(r))
    rsub = r.add_subparsers(metavar="ACTION")
    rv = rsub.add_parser("validate", help="check a rubric against its schema and its lab")
    rv.add_argument("file")
    rv.set_defaults(func=cmd_rubric_validate)
    rd = rsub.add_parser("diff", help="whose score changes between two rubrics")
    rd.add_argument("old")
    rd.add_argument("new")
    rd.add_argument("--store", required=True, metavar="FILE")
    rd.set_defaults(func=cmd_rubric_diff)


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return EXIT_BAD_INPUT


def cmd_check(args: argparse.Namespace) -> int:
    from graders.selfcheck import run_check

    return run_check(
        args.lab,
        args.student,
        fmt=args.format,
        out=args.out,
        rubric_file=args.rubric,
        show_hidden=args.show_hidden,
    )


def cmd_batch(args: argparse.Namespace) -> int:
    from graders.batch import run_batch
    from graders.course import course_key_file
    from graders.roster import load_roster
    from graders.rubric import load_lab_rubric

    lab, rubric = load_lab_rubric(args.lab, args.rubric)
    course_key = course_key_file(args.ssh_key) if args.ssh_key else None
    roster = load_roster(args.roster, course_key)
    return run_batch(
        lab,
        rubric,
        roster,
        Path(args.out),
        jobs=args.jobs,
        resume=args.resume,
        shard=args.shard,
        key=staff_key(args.signing_key),
    )


def cmd_rescore(args: argparse.Namespace) -> int:
    from graders.batch import rescore
    from graders.rubric import load_lab_rubric

    lab, rubric = load_lab_rubric(args.lab, args.rubric)
    out = Path(args.out) if args.out else None
    return rescore(lab, rubric, Path(args.store), out, staff_key(args.signing_key))


def cmd_merge(args: argparse.Namespace) -> int:
    from graders.batch import merge
    from graders.rubric import load_lab_rubric

    lab, rubric = load_lab_rubric(args.lab, args.rubric)
    stores = [Path(p) for p in args.stores]
    return merge(lab, rubric, stores, Path(args.out), staff_key(args.signing_key))


def cmd_verify(args: argparse.Namespace) -> int:
    from graders.signing import verify

    return verify(args.files, args.signing_key)


def cmd_rubric_diff(args: argparse.Namespace) -> int:
    from graders.rubricdiff import diff

    sys.stdout.write(diff(args.old, args.new, args.store))
    return EXIT_OK


def cmd_labs(args: argparse.Namespace) -> int:
    from graders.labs import describe_labs

    sys.stdout.write(describe_labs())
    return EXIT_OK


def cmd_course_key(args: argparse.Namespace) -> int:
    from graders.course import course_key_line

    print(course_key_line())
    return EXIT_OK


def cmd_course_show(args: argparse.Namespace) -> int:
    from graders.course import describe

    sys.stdout.write(describe())
    return EXIT_OK


def cmd_course_validate(args: argparse.Namespace) -> int:
    from graders.course import load_course

    data = load_course(args.file)
    print(f"{args.file}: valid course file: {len(data['sites'])} sites")
    return EXIT_OK


def cmd_rubric_validate(args: argparse.Namespace) -> int:
    from graders.rubric import validate_rubric_file

    print(validate_rubric_file(args.file))
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from graders.demo import run_demo

    return run_demo(Path(args.out), args.labs)


if __name__ == "__main__":
    sys.exit(main())
