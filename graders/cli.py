"""labgrader's command line. Heavy imports (python-chi, fabric, rich) stay inside commands,
so that `labgrader --help` answers at once."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from graders import __version__
from graders.errors import BadInput

if TYPE_CHECKING:  # the modules themselves are imported inside the commands that need them
    from graders.labs import LabSpec
    from graders.results import Result
    from graders.rubric import Rubric
    from graders.store import Store

EXIT_OK, EXIT_NOT_ALL_PASSED, EXIT_BAD_INPUT = 0, 1, 2
EXIT_NEEDS_REGRADE = 1  # batch, rescore, merge: some student's grade is not known


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

    c = sub.add_parser("check", help="grade one student's lab (students: self-check)")
    c.add_argument("lab", help="lab id, e.g. hello-chameleon (see `labgrader labs`)")
    c.add_argument("--student", required=True, metavar="FILE", help="student.yaml")
    c.add_argument("--format", choices=("text", "json", "gradescope"), default="text")
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
    b.set_defaults(func=cmd_batch)

    rs = sub.add_parser("rescore", help="recompute results from a store, without the network")
    rs.add_argument("lab")
    rs.add_argument("--store", required=True, metavar="FILE")
    rs.add_argument("--rubric", metavar="FILE")
    rs.add_argument("--out", metavar="DIR", help="write results here (default: the store's folder)")
    rs.set_defaults(func=cmd_rescore)

    m = sub.add_parser("merge", help="join shard stores into one batch folder")
    m.add_argument("lab")
    m.add_argument("stores", nargs="+", metavar="STORE")
    m.add_argument("--out", required=True, metavar="DIR")
    m.add_argument("--rubric", metavar="FILE")
    m.set_defaults(func=cmd_merge)

    lb = sub.add_parser("labs", help="list the labs this grader knows")
    lb.set_defaults(func=cmd_labs)

    k = sub.add_parser("course-key", help="print the course staff key students add to their VMs")
    k.set_defaults(func=cmd_course_key)

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
    return p


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return EXIT_BAD_INPUT


def _load(lab_id: str, rubric_file: str | None) -> tuple[LabSpec, Rubric]:
    from graders.labs import load_lab
    from graders.rubric import load_rubric, rubric_path

    lab = load_lab(lab_id)
    return lab, load_rubric(rubric_file or rubric_path(lab_id), lab)


def cmd_check(args: argparse.Namespace) -> int:
    try:
        return _check(args)
    except BadInput as exc:
        if args.format == "gradescope" and args.out:
            _gradescope_failure(args.out, str(exc))
        raise


def _gradescope_failure(path: str, reason: str) -> None:
    """Gradescope shows a bare "failed to execute" without results.json: write the reason."""
    from graders.files import write_atomic
    from graders.report.gradescope import failure

    try:
        write_atomic(path, failure(reason))
    except OSError:
        pass  # an --out that cannot be written: the line on stderr is all there is


def _check(args: argparse.Namespace) -> int:
    from datetime import datetime, timezone

    from graders.files import check_writable, write_atomic
    from graders.grade import grade, preflight
    from graders.report import render
    from graders.student import load_student

    student = load_student(args.student)
    lab, rubric = _load(args.lab, args.rubric)
    if args.out:
        check_writable(args.out)
    site = preflight(lab)
    print(f"labgrader: grading {lab.id} for {student.netid} ...", file=sys.stderr)
    t0 = time.monotonic()
    result = grade(lab, rubric, student, site)
    now = datetime.now(timezone.utc)
    view = result if args.show_hidden else result.for_student(now)
    text = render(view, args.format, execution_time=time.monotonic() - t0)
    if args.out:
        write_atomic(args.out, text)
        print(f"labgrader: wrote {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    _self_check_warnings(lab, result)
    return EXIT_OK if result.all_shown_passed(now) else EXIT_NOT_ALL_PASSED


def _self_check_warnings(lab: LabSpec, result: Result) -> None:
    """What a student must not miss: staff cannot log in, or nothing was found at all."""
    from graders.labkit import COURSE_KEY_CHECK

    for item in result.checks:
        if item.check == COURSE_KEY_CHECK and item.status == "failed":
            bar = "!" * 78
            lines = [bar, "WARNING: staff cannot log in to your instance to grade it.", ""]
            lines += [line for line in item.feedback.splitlines() if line.strip()]
            print("\n".join([*lines, bar]), file=sys.stderr)
    if not any(item.status == "passed" for item in result.checks):
        print(
            f"labgrader: nothing of {lab.id} was found to grade. Most labs end by deleting "
            f"what is graded: grade before this step of the manual: {lab.config['grade_before']}",
            file=sys.stderr,
        )


def cmd_batch(args: argparse.Namespace) -> int:
    from graders.batch import in_shard, observe_all, open_out, parse_shard, progress_printer
    from graders.files import check_writable_dir
    from graders.grade import preflight
    from graders.roster import load_roster

    if args.jobs < 1:
        raise BadInput("--jobs must be at least 1")
    shard = parse_shard(args.shard)
    lab, rubric = _load(args.lab, args.rubric)
    course_key = _course_key_file(args.ssh_key) if args.ssh_key else None
    roster = load_roster(args.roster, course_key)
    students = [s for s in roster if in_shard(s.netid, shard)]
    out = Path(args.out)
    check_writable_dir(out)
    site = preflight(lab, staff=True)
    store = open_out(out, lab.id, resume=args.resume)
    done = store.finished() if args.resume else set()
    todo = [s for s in students if s.netid not in done]
    print(
        f"labgrader: {lab.id}: {len(students)} students"
        + (f" in shard {args.shard}" if shard else "")
        + (f", {len(students) - len(todo)} already stored" if done else ""),
        file=sys.stderr,
    )
    step, stop = progress_printer(len(todo))
    t0 = time.monotonic()
    try:
        observe_all(
            lab,
            todo,
            site,
            store,
            rubric.sha256,
            jobs=args.jobs,
            shard=args.shard or "",
            on_done=step,
        )
    except KeyboardInterrupt:
        stop()
        print(
            f"labgrader: interrupted; {store.count()} gradings are safe in {store.path}. "
            "Run the same command with --resume to finish.",
            file=sys.stderr,
        )
        return 130
    stop()
    return _finish(store, rubric, out, time.monotonic() - t0, lab)


def _course_key_file(path: str) -> Path:
    """The course key's private half: a private key, and the one course.yaml names."""
    from graders.course import private_key_fingerprint, staff_key
    from graders.student import check_key

    key = Path(path).expanduser().resolve()
    check_key(key, "--ssh-key")
    named = staff_key()
    if named is not None:
        found = private_key_fingerprint(key)
        if found and found != named.fingerprint:
            raise BadInput(
                f"--ssh-key {key} is not the course staff key: its fingerprint is {found}, "
                f"rubrics/course.yaml names {named.fingerprint}"
            )
    return key


def _finish(store: Store, rubric: Rubric, out: Path, wall_s: float, lab: LabSpec) -> int:
    """Write every output; exit 1 unless every student's result is complete."""
    from graders.batch import NEEDS_REGRADE, write_outputs
    from graders.report.cohort import render

    gradings = list(store.latest())  # read once: outputs and the cohort report share it
    durable = tuple(lab.config.get("durable", ()))
    rows = write_outputs(store, rubric, out, durable, gradings=gradings)
    results = [r.result for r in rows if r.result is not None]
    crashed = len(rows) - len(results)
    sys.stdout.write(render(results, gradings, crashed, wall_s))
    _report_missing_course_keys(results)
    print(
        f"Wrote {out}/students/<netid>/result.json and results.json, {out}/gradebook.csv, "
        f"{out}/canvas.csv, {out}/brightspace.csv, {out}/{NEEDS_REGRADE}; store {store.path}"
    )
    store.close()
    regrade = sum(1 for r in rows if not r.complete)
    if regrade:
        print(
            f"labgrader: {regrade} student(s) have no grade yet (grader error or crash; their "
            f"LMS cells are empty): see {out / NEEDS_REGRADE}",
            file=sys.stderr,
        )
        return EXIT_NEEDS_REGRADE
    return EXIT_OK


def _report_missing_course_keys(results: list[Result]) -> None:
    from graders.labkit import COURSE_KEY_CHECK

    missing = sorted(
        r.student
        for r in results
        if any(c.check == COURSE_KEY_CHECK and c.status == "failed" for c in r.checks)
    )
    if missing:
        shown = ", ".join(missing[:20]) + (", ..." if len(missing) > 20 else "")
        print(
            f"labgrader: {len(missing)} students have not added the course key, so staff "
            f"could not log in to grade what needs a login: {shown}",
            file=sys.stderr,
        )


def cmd_rescore(args: argparse.Namespace) -> int:
    from graders.batch import MANIFEST
    from graders.store import Store

    lab, rubric = _load(args.lab, args.rubric)
    store = Store.open_existing(args.store, lab.id)
    out = Path(args.out) if args.out else Path(args.store).parent
    if args.out:
        from graders.batch import open_out

        open_out(out, lab.id, resume=True).close()
    elif not (out / MANIFEST).is_file():
        raise BadInput(f"{out} is not a batch folder; give --out")
    t0 = time.monotonic()
    return _finish(store, rubric, out, time.monotonic() - t0, lab)


def cmd_merge(args: argparse.Namespace) -> int:
    from graders.batch import open_out
    from graders.store import Store

    lab, rubric = _load(args.lab, args.rubric)
    paths = [Path(p) / "store.sqlite" if Path(p).is_dir() else Path(p) for p in args.stores]
    sources = [Store.open_existing(p, lab.id) for p in paths]  # all checked before writing
    store = open_out(Path(args.out), lab.id, resume=False)
    t0 = time.monotonic()
    for other in sources:
        store.copy_from(other)
        other.close()
    return _finish(store, rubric, Path(args.out), time.monotonic() - t0, lab)


def cmd_rubric_diff(args: argparse.Namespace) -> int:
    from graders.rubricdiff import diff

    sys.stdout.write(diff(args.old, args.new, args.store))
    return EXIT_OK


def cmd_labs(args: argparse.Namespace) -> int:
    from graders.labs import lab_ids, load_lab

    for lab_id in lab_ids():
        lab = load_lab(lab_id)
        print(f"{lab_id:20} {lab.title} ({lab.config['site']}, {len(lab.checks)} checks)")
    return EXIT_OK


def cmd_course_key(args: argparse.Namespace) -> int:
    from graders.course import staff_key

    key = staff_key()
    if key is None:
        raise BadInput("the course names no staff key (staff_key in rubrics/course.yaml)")
    if not key.public_line:
        raise BadInput(
            f"the course file names only the staff key's fingerprint ({key.fingerprint}); "
            "ask course staff for the key itself"
        )
    print(key.public_line)
    return EXIT_OK


def cmd_course_show(args: argparse.Namespace) -> int:
    from graders.course import course, course_path, staff_key

    data = course()
    print(f"{course_path()}: {data.get('course', '')} {data.get('year', '')}".rstrip())
    for name, site in data["sites"].items():
        cloud = f"clouds.yaml entry {site['cloud']!r}" if site.get("cloud") else "OS_* only"
        print(f"  site {name:9} {site['auth_url']}  ({cloud})")
    key = staff_key()
    print(f"  staff key: {key.fingerprint if key else 'none named'}")
    if data.get("weights"):
        print("  weights: " + ", ".join(f"{k} {v:g}" for k, v in data["weights"].items()))
    return EXIT_OK


def cmd_course_validate(args: argparse.Namespace) -> int:
    from graders.course import load_course

    data = load_course(args.file)
    print(f"{args.file}: valid course file: {len(data['sites'])} sites")
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
