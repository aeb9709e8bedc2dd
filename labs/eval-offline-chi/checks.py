"""Offline evaluation: the checks follow the lab.

Launch node-eval-offline-<user>, fill the food11 volume with Food-11, start the `jupyter`
container (the workspace at /home/jovyan/work, the volume at /mnt, FOOD11_DATA_DIR set), run
and save 4_eval_offline.ipynb, and finally run the lab's own pytest suite, which ships with the
repository in workspace/tests/ (`pytest --verbose --tb=no tests/`).

The suite is the lab's, unmodified (sha256 against the repository's versions). The student's
own run shows in pytest's cache (or the notebook's output); the grader then runs the same
suite in the same container and reads pytest's JUnit report. Each of the lab's five tests
scores for a real verdict, passed or failed on its own assertion: the course model fails some
of them (the manual says so), and a test that could not run (no data, no model) has none.
"""

from __future__ import annotations

import json
import shlex
import uuid
from typing import Any

from graders.checks import Lab, check
from graders.errors import Failure
from graders.labkit.chameleon import server_check
from graders.labkit.containers import require_containers
from graders.labkit.instances import course_key_check, login_check
from graders.probes import junit

server_active = server_check("Server node-eval-offline-<user> is ACTIVE with a floating IP")


ssh_login = login_check(after=server_active)


@check(title="The jupyter container is running", depends=[ssh_login], vantage="host")
def jupyter_container(lab: Lab) -> None:
    """`docker ps` lists the container `jupyter`, where the notebook and the suite run."""
    require_containers(lab, [lab.config["container"]])


@check(
    title="The lab's test files are in workspace/tests, unmodified",
    depends=[ssh_login],
    vantage="host",
)
def test_files(lab: Lab) -> None:
    """The four files of ~/eval-offline-chi/workspace/tests (conftest.py and the three
    test_food11_*.py) have the bytes of a version the lab's repository holds (sha256)."""
    folder = f"{lab.config['workspace']}/{lab.config['tests_dir']}"
    known: dict[str, list[str]] = lab.config["test_files"]
    names = " ".join(shlex.quote(n) for n in known)
    result = lab.run(f"cd ~/{shlex.quote(folder)} && sha256sum -- {names}")
    seen = {}
    for line in result.stdout.splitlines():
        digest, _, name = line.partition("  ")
        seen[name.strip()] = digest.strip().lower()
    missing = [n for n in known if n not in seen]
    changed = [n for n in known if n in seen and seen[n] not in known[n]]
    lab.measure("unmodified", len(known) - len(missing) - len(changed))
    lab.note(f"sha256 of ~/{folder}", seen)
    lab.require(
        not missing,
        f"~/{folder} lacks {', '.join(missing)} ({result.stderr.strip()[:160]})",
        "The suite comes with the lab's repository: clone teaching-on-testbeds/eval-offline-chi.",
    )
    lab.require(
        not changed,
        f"{', '.join(changed)} in ~/{folder} differ(s) from every version in the lab's "
        "repository: the suite must be run as the lab ships it",
        "Restore the lab's files: `git -C ~/eval-offline-chi checkout -- workspace/tests`.",
    )


# Run in the container (python3 there is the notebook's): what the workspace holds.
# argv: mode ("data" DIR | "notebooks" MARKER MAX_BYTES | "cache"), printed as one JSON line.
PROBE = r"""
import glob, json, os, sys
mode = sys.argv[1]
out = {}
if mode == "data":
    root = sys.argv[2]
    if not os.path.isdir(root):
        out = {"missing": True}
    else:
        classes = {}
        for e in sorted(os.scandir(root), key=lambda e: e.name):
            if e.is_dir():
                classes[e.name] = sum(1 for f in os.scandir(e.path) if f.is_file())
        out = {"classes": classes}
elif mode == "notebooks":
    marker, cap = sys.argv[2], int(sys.argv[3])
    for path in sorted(glob.glob("*.ipynb")):
        info = {"bytes": os.path.getsize(path)}
        out[path] = info
        if info["bytes"] > cap:
            continue
        try:
            with open(path, encoding="utf-8") as f:
                nb = json.load(f)
            cells = [c for c in nb.get("cells", []) if c.get("cell_type") == "code"]
        except Exception as exc:
            info["error"] = type(exc).__name__
            continue
        outputs = [o for c in cells for o in (c.get("outputs") or []) if isinstance(o, dict)]
        src = lambda c: "".join(c.get("source") or "")
        info.update(
            code_cells=len(cells),
            executed=sum(isinstance(c.get("execution_count"), int) for c in cells),
            with_outputs=sum(bool(c.get("outputs")) for c in cells),
            images=sum(any(k.startswith("image/") for k in (o.get("data") or {})) for o in outputs),
            errors=sum(o.get("output_type") == "error" for o in outputs),
            lab=any(marker in src(c) for c in cells),
            pytest_output="\n".join(
                "".join(o.get("text") or "") for c in cells if "pytest" in src(c)
                for o in (c.get("outputs") or []) if isinstance(o, dict)
            )[-20000:],
        )
elif mode == "cache":
    for where in (".pytest_cache", "tests/.pytest_cache"):
        found = {}
        for name in ("nodeids", "lastfailed"):
            try:
                with open(os.path.join(where, "v", "cache", name), encoding="utf-8") as f:
                    found[name] = json.load(f)
            except Exception:
                pass
        if found:
            out[where] = found
print(json.dumps(out))
"""


def _probe(lab: Lab, *args: str, timeout: float = 60) -> Any:
    cfg = lab.config
    where, container = shlex.quote(cfg["container_workspace"]), shlex.quote(cfg["container"])
    argv = " ".join(shlex.quote(a) for a in args)
    result = lab.run(
        f"docker exec -w {where} {container} python3 -c {shlex.quote(PROBE)} {argv}",
        timeout=timeout,
    )
    lab.require(
        result.ok,
        f"python3 in the {cfg['container']} container failed "
        f"(exit {result.exited}: {result.stderr.strip()[:200]})",
    )
    try:
        return json.loads(result.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise Failure(
            f"the {cfg['container']} container answered {result.stdout[:120]!r}, not JSON"
        ) from None


@check(
    title="The Food-11 evaluation set is where the lab's tests read it",
    depends=[jupyter_container],
    vantage="host",
)
def food11_data(lab: Lab) -> None:
    """In the container, $FOOD11_DATA_DIR/evaluation (the food11 volume: /mnt/Food-11) holds
    the eleven class folders class_00 .. class_10, none empty."""
    cfg = lab.config["data"]
    container = shlex.quote(lab.config["container"])
    env = lab.run(f"docker exec {container} printenv {shlex.quote(cfg['env'])}")
    base = env.stdout.strip() if env.ok and env.stdout.strip() else cfg["default"]
    lab.measure("data_dir", base)
    root = f"{base.rstrip('/')}/{cfg['split']}"
    found = _probe(lab, "data", root)
    lab.require(
        not found.get("missing"),
        f"{root} does not exist in the {lab.config['container']} container "
        f"({cfg['env']}={'unset' if not env.ok else base})",
        "Fill the food11 volume (docker-compose-data.yaml) and start jupyter with "
        "`-v food11:/mnt/ -e FOOD11_DATA_DIR=/mnt/Food-11`.",
    )
    classes: dict[str, int] = found.get("classes") or {}
    want = [f"class_{i:02d}" for i in range(cfg["classes"])]
    absent = [c for c in want if not classes.get(c)]
    lab.measure("images", sum(v for v in classes.values() if isinstance(v, int)))
    lab.measure("classes", len(want) - len(absent))
    lab.require(
        not absent,
        f"{root} lacks images in {', '.join(absent)}",
        "Run docker-compose-data.yaml again: it downloads and sorts the whole set.",
    )


def _notebooks(lab: Lab) -> dict[str, Any]:
    cfg = lab.config["notebook"]
    found = _probe(lab, "notebooks", cfg["marker"], str(cfg["max_bytes"]))
    return found if isinstance(found, dict) else {}


@check(
    title="4_eval_offline.ipynb was run and saved with its outputs",
    depends=[jupyter_container],
    vantage="host",
)
def notebook_executed(lab: Lab) -> None:
    """The lab's notebook in the workspace (4_eval_offline.ipynb, or a copy holding the lab's
    code) has most of its code cells executed and saved with outputs, images among them."""
    cfg = lab.config["notebook"]
    books = lab.shared(_notebooks)
    lab.note(
        f"notebooks in the workspace: {len(books)}",
        {k: {x: y for x, y in v.items() if x != "pytest_output"} for k, v in books.items()},
    )
    ours = [
        (name, b)
        for name, b in books.items()
        if isinstance(b, dict) and (name == cfg["name"] or b.get("lab"))
    ]
    lab.require(ours, f"the workspace has no {cfg['name']}", "Keep the lab's notebook there.")

    def share(b: dict[str, Any]) -> float:
        cells = b.get("code_cells") or 0
        return (b.get("executed") or 0) / cells if cells else 0.0

    name, best = max(ours, key=lambda nb: (share(nb[1]), nb[1].get("images") or 0))
    lab.measure("notebook", name)
    lab.measure("executed_share", round(share(best), 3))
    lab.measure("image_outputs", best.get("images") or 0)
    lab.require(
        "code_cells" in best,
        f"{name} could not be read ({best.get('error') or str(best.get('bytes')) + ' bytes'})",
    )
    lab.require(
        share(best) >= cfg["min_executed"],
        f"{name} has {best.get('executed')} of its {best.get('code_cells')} code cells "
        f"executed (saved with an execution count); the lab runs them all",
        "Run the notebook through, then save it (File > Save) before downloading it.",
    )
    lab.require(
        (best.get("images") or 0) >= cfg["min_images"],
        f"{name} holds no image output (no confusion matrix, samples or GradCAM)",
        "Run the plotting cells and save the notebook with its outputs.",
    )


@check(
    title="You ran the lab's test suite",
    depends=[jupyter_container],
    vantage="host",
)
def tests_run(lab: Lab) -> None:
    """pytest's own record of the student's run (.pytest_cache in the workspace, written by
    `pytest --verbose --tb=no tests/`), or the notebook's saved output of that cell, names
    each of the lab's five tests."""
    wanted = lab.config["lab_tests"]
    cache = _probe(lab, "cache")
    ids = [
        str(n)
        for c in (cache.values() if isinstance(cache, dict) else [])
        if isinstance(c, dict)
        for n in (c.get("nodeids") or [])
    ]
    seen = {t for t in wanted if any(n.endswith(f"::{t}") for n in ids)}
    lab.note(f"pytest cache: {len(ids)} test ids", cache)
    if len(seen) < len(wanted):  # the notebook's saved `!pytest --verbose` output
        text = "\n".join(
            str(b.get("pytest_output") or "")
            for b in lab.shared(_notebooks).values()
            if isinstance(b, dict)
        )
        seen |= {t for t in wanted if f"::{t} " in text}
    lab.measure("tests_seen", len(seen))
    missing = [t for t in wanted if t not in seen]
    lab.require(
        not missing,
        "no run of the lab's suite by you is recorded (pytest's cache and the notebook's "
        f"output lack {', '.join(missing)})",
        "Run `pytest --verbose --tb=no tests/` from the notebook (the lab's last cells).",
    )


@check(
    title="pytest runs the lab's suite in the jupyter container",
    depends=[jupyter_container, test_files, tests_run],
    vantage="host",
    timeout=660,
)
def suite_runs(lab: Lab) -> junit.Report:
    """`python -m pytest tests` runs in the container and writes a JUnit report that parses,
    with every test file collected."""
    cfg = lab.config
    name = f".labgrader-junit-{uuid.uuid4().hex[:8]}.xml"  # never a stale report
    where, container = shlex.quote(cfg["container_workspace"]), shlex.quote(cfg["container"])
    exec_ = f"docker exec -w {where} {container}"
    run = lab.run(
        f"{exec_} python -m pytest {shlex.quote(cfg['tests_dir'])} -q --tb=short "
        f"-p no:cacheprovider --junitxml {name}",
        timeout=cfg["pytest"]["timeout_s"],
    )
    cap = int(cfg["pytest"]["report_max_bytes"])
    read = lab.run(f"{exec_} head -c {cap + 1} {name}; s=$?; {exec_} rm -f {name}; exit $s")
    problem = junit.run_problem(run.exited, run.stdout + run.stderr)
    lab.measure("pytest_exit", run.exited)
    lab.require(not problem, f"{problem}", "Run the suite yourself in the container first.")
    lab.require(
        read.ok,
        f"pytest exited {run.exited} but left no report ({read.stderr.strip()[:160]})",
    )
    try:
        report = junit.parse(read.stdout.encode(), cap)
    except junit.ReportError as exc:
        raise Failure(f"the JUnit report pytest wrote is unusable: {exc}") from None
    for key, value in report.summary().items():
        lab.measure(key, value)
    contradiction = junit.disagreement(run.exited, report)
    lab.require(
        not contradiction,
        f"the JUnit report is not pytest's own: {contradiction}",
        "Leave pytest's reporting alone (no conftest.py hook that rewrites the report).",
    )
    lab.note(
        f"JUnit report: {report.tests} tests, {report.failures} failed, {report.errors} "
        f"errors, {report.skipped} skipped",
        [c.to_dict() for c in report.cases],
    )
    broken = report.collection_errors
    lab.require(
        not broken,
        "pytest could not collect "
        + "; ".join(f"{c.name.replace('.', '/')}.py ({c.message})" for c in broken),
        "Fix the error in that file, then run `pytest --verbose --tb=no tests/` again.",
    )
    lab.require(report.tests, "pytest collected no tests", "Name the test functions test_*.")
    return report


# A failure is a verdict when the test's own check decided it: an assert (AssertionError) or
# pytest.fail ("Failed: ..."). Anything else (FileNotFoundError, a fixture's error) is not.
VERDICT_FAILURES = ("AssertionError", "Failed:")


def _verdict(test: str) -> Any:
    def verdict(lab: Lab, suite_runs: junit.Report) -> None:
        case = suite_runs.by_name().get(test)
        lab.require(case, f"the report has no {test}", "Keep the lab's test files as they are.")
        assert case is not None
        lab.measure("outcome", case.outcome)
        if case.message:
            lab.measure("message", case.message[:200])
        real = case.outcome == "passed" or (
            case.outcome == "failed" and case.message.startswith(VERDICT_FAILURES)
        )
        lab.require(
            real,
            f"{test} reached no verdict: {case.outcome} ({case.message[:160] or 'no message'})",
            "Its inputs are missing: the Food-11 volume (FOOD11_DATA_DIR), models/food11.pth, "
            "or the lab's image folders.",
        )

    verdict.__name__ = verdict.__qualname__ = "verdict_" + test.removeprefix("test_")
    verdict.__doc__ = (
        f"{test}, in the grader's run of the suite, passed or failed on its own assertion "
        "(a real verdict either way: the course model fails some of the lab's tests)."
    )
    return check(title=f"{test} reaches a verdict", depends=[suite_runs])(verdict)


verdict_overall_accuracy = _verdict("test_overall_accuracy")
verdict_per_class_accuracy = _verdict("test_per_class_accuracy")
verdict_template_permutations = _verdict("test_template_permutations")
verdict_cake_looks_like_accuracy = _verdict("test_cake_looks_like_accuracy")
verdict_indian_dessert_accuracy = _verdict("test_indian_dessert_accuracy")


course_key = course_key_check(after=server_active)
