"""End to end: the grader against the simulated class (real sshd, real HTTP, python-chi)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import jsonschema
import pytest

from graders.cli import main
from graders.files import schema
from graders.grade import grade, site_for
from graders.labs import load_lab
from graders.probes import http, ssh
from graders.rubric import load_rubric, rubric_path
from graders.student import load_student
from tests.conftest import ALL_PROFILES, assert_as_expected

LABS = ["hello-chameleon", "cloud-chi"]
# Per attempt, the slower of an HTTP connect+read and an SSH connect+banner; one retry after a
# back-off; and slack for the API calls.
TARPIT_BUDGET_S = (
    2
    * max(
        http.CONNECT_TIMEOUT_S + http.READ_TIMEOUT_S, ssh.CONNECT_TIMEOUT_S + ssh.BANNER_TIMEOUT_S
    )
    + 1
    + 3
)


def graded(student, lab_id: str):
    lab = load_lab(lab_id)
    rubric = load_rubric(rubric_path(lab_id), lab)
    t0 = time.monotonic()
    result = grade(lab, rubric, load_student(student.student_file), site_for(lab))
    return result, time.monotonic() - t0


@pytest.mark.parametrize("lab_id", LABS)
@pytest.mark.parametrize("profile", ALL_PROFILES)
def test_every_profile_is_graded_as_expected(by_profile, profile: str, lab_id: str) -> None:
    student = by_profile[profile]
    result, took = graded(student, lab_id)
    if profile == "tarpit":  # a host that never answers costs only the timeouts it is given
        assert took < TARPIT_BUDGET_S, f"tarpit took {took:.1f} s"
    assert_as_expected(student, lab_id, result, strict_feedback=True)


def test_unreachable_feedback_names_address_and_port(by_profile) -> None:
    result, _ = graded(by_profile["host_down"], "cloud-chi")
    web = next(c for c in result.items if c.id == "web_page")
    student_ip = web.evidence[0]["summary"].split("//")[1].split(":")[0]
    assert student_ip.startswith("127.") and student_ip in web.feedback
    assert "refused" in web.feedback and "port 80" in web.feedback


def test_a_torn_down_cluster_is_named_as_such(by_profile) -> None:
    """After the lab's `kubectl delete -f deployment.yaml` the namespace is left and the three
    objects are gone: the feedback says so; one object missing is not a teardown."""
    result, _ = graded(by_profile["k8s_torn_down"], "cloud-chi")
    items = {c.id: c for c in result.items}
    for check in ("k8s_deployment", "k8s_service", "k8s_hpa"):
        assert "did you run `kubectl delete -f deployment.yaml`" in items[check].feedback
        assert "grade before it" in items[check].feedback
    assert "kubectl delete -f deployment.yaml" in items["web_page"].feedback
    result, _ = graded(by_profile["missing_k8s_object"], "cloud-chi")
    hpa = next(c for c in result.items if c.id == "k8s_hpa")
    assert "kubectl delete" not in hpa.feedback and "Apply the lab's" in hpa.feedback


def test_student_text_report(by_profile, capsys) -> None:
    code = main(
        ["check", "hello-chameleon", "--student", str(by_profile["missing_file"].student_file)]
    )
    out = capsys.readouterr().out
    assert code == 1
    assert "✓ Server hello_chameleon" in out and "✗ ~/hello.txt says Hello" in out
    assert "No such file" in out and "Try:" in out
    assert "1 hidden check (2 points)" in out and "edited and copied back" not in out
    assert "Score estimate: 5/8" in out


def test_skipped_names_the_blocking_check(by_profile, capsys) -> None:
    main(["check", "cloud-chi", "--student", str(by_profile["host_down"].student_file)])
    out = capsys.readouterr().out
    assert "– kubectl shows 3 Ready nodes  [skipped" in out
    assert "skipped because ssh_login (SSH as cc works on node1) did not pass" in out


def test_json_and_gradescope_outputs_validate(by_profile, tmp_path: Path) -> None:
    st = str(by_profile["healthy"].student_file)
    out = tmp_path / "r.json"
    assert (
        main(["check", "hello-chameleon", "--student", st, "--format", "json", "--out", str(out)])
        == 0
    )
    doc = json.loads(out.read_text())
    jsonschema.validate(doc, schema("result"))
    assert doc["score"] == doc["max_score"] == 8  # the hidden check's 2 points are not shown
    gs = tmp_path / "results.json"
    assert (
        main(["check", "cloud-chi", "--student", st, "--format", "gradescope", "--out", str(gs)])
        == 0
    )
    gdoc = json.loads(gs.read_text())
    jsonschema.validate(gdoc, schema("gradescope"))
    assert gdoc["score"] == sum(t.get("score", 0) for t in gdoc["tests"])
    assert {t["visibility"] for t in gdoc["tests"]} == {"visible", "after_published"}
    assert [t["name"] for t in gdoc["tests"] if t["visibility"] != "visible"] == ["Hidden check"]


@pytest.mark.parametrize("profile", ["unedited_file", "healthy"])
def test_a_students_own_json_shows_a_hidden_item_by_its_points_only(
    by_profile, tmp_path: Path, profile: str
) -> None:
    """The self-check hides the hidden item's outcome (failed for unedited_file, passed for
    healthy), and its score leaves the item out; --show-hidden (staff) shows it whole."""
    st = str(by_profile[profile].student_file)
    own, staff = tmp_path / "own.json", tmp_path / "staff.json"
    argv = ["check", "hello-chameleon", "--student", st, "--format", "json", "--out"]
    main([*argv, str(own)])
    main([*argv, str(staff), "--show-hidden"])
    doc, full = json.loads(own.read_text()), json.loads(staff.read_text())
    jsonschema.validate(doc, schema("result"))
    # a self-check never signs, and says so: no file of it can pass for a staff result
    assert (doc["view"], doc["signature"], full["view"], full["signature"]) == (
        "student",
        None,
        "full",
        None,
    )
    secret = next(c for c in full["checks"] if c["check"] == "hello_file_edited")
    assert secret["status"] == ("failed" if profile == "unedited_file" else "passed")
    (hidden,) = [c for c in doc["checks"] if c["status"] == "hidden"]
    assert hidden == {
        "id": "hidden-1",
        "title": "Hidden check",
        "status": "hidden",
        "score": 0,
        "max_score": secret["max_score"],
        "feedback": "",
        "measurements": {},
        "visibility": "hidden",
    }
    text = json.dumps(doc)
    assert secret["title"] not in text and "hello_file_edited" not in text
    assert not secret["feedback"] or secret["feedback"] not in text
    assert doc["score"] == full["score"] - secret["score"]
    assert doc["max_score"] == full["max_score"] - secret["max_score"]
    seen = [(c["id"], c["status"], c["score"]) for c in doc["checks"] if c["status"] != "hidden"]
    assert seen == [
        (c["id"], c["status"], c["score"])
        for c in full["checks"]
        if c["check"] != "hello_file_edited"
    ]


# ---- hello-chameleon: ~/hello.txt as editors save it --------------------------------------
def hello_function(name: str):
    """A helper of labs/hello-chameleon/checks.py, as the lab loader loaded it."""
    check = next(c for c in load_lab("hello-chameleon").checks if c.id == "hello_file")
    return check.func.__globals__[name]


HOST = "hello-chameleon-ab1234"


@pytest.mark.parametrize(
    ("data", "text"),
    [
        (b"Hello from x\n", "Hello from x\n"),
        (b"\xef\xbb\xbfHello from x\r\n", "Hello from x\r\n"),  # UTF-8 with a BOM
        ("Hello from x \u2014 ok\r\n".encode("utf-16"), "Hello from x \u2014 ok\r\n"),
        ("Hello from x\n".encode("utf-16-be"), "Hello from x\n"),  # no BOM
        ("Hello from x\n".encode("utf-16-le"), "Hello from x\n"),
        (b"\xff\xfe", ""),  # a BOM alone
        (b"caf\xe9\n", "caf\ufffd\n"),  # Latin-1: read as UTF-8, replaced, not refused
        (b"", ""),
    ],
)
def test_hello_txt_is_decoded_as_its_editor_saved_it(data: bytes, text: str) -> None:
    assert hello_function("decode_text")(data) == text


@pytest.mark.parametrize(
    ("text", "lab_file"),
    [
        (f"Hello from {HOST}\n", True),
        (f"Hello from {HOST} \u2014 edited on my Mac\n", True),  # the line edited in place
        (f"My edit first\nHello from {HOST}\n", True),  # a line put before it
        (f"hello from {HOST.upper()}!\n", True),  # case changed
        (f"Greetings from {HOST}\n", True),  # names the host
        ("Hello from my laptop\n", True),  # keeps the lab's words
        ("Goodbye\n", False),
        ("", False),
    ],
)
def test_hello_txt_is_the_labs_file_when_recognisable(text: str, lab_file: bool) -> None:
    assert hello_function("is_hello")(text, HOST) is lab_file


def test_simulated_hostnames_are_novas() -> None:
    from labsim.basics import nova_hostname

    assert nova_hostname("hello_chameleon-AB1234_nyu") == "hello-chameleon-ab1234-nyu"
    assert nova_hostname("hello_chameleon-jane.doe") == "hello-chameleon-jane-doe"
    assert nova_hostname("-Node1 (cloud)!-") == "node1-cloud"
    assert len(nova_hostname("x" * 80)) == 63
