"""Resources belong to a student by name and by owner: in the course's shared project a
classmate can create a server with your name. Against the simulated class (python-chi
unchanged against its OpenStack API), with decoys planted in it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from graders.errors import BadInput
from graders.grade import grade, site_for
from graders.labs import load_lab
from graders.probes.chameleon import reset_cache
from graders.roster import load_roster
from graders.rubric import load_rubric, rubric_path
from graders.student import from_dict
from tests.conftest import lab_classroom, student_of

LAB = "hello-chameleon"
CLASSMATE = "c" * 32  # another project member's Keystone id


@pytest.fixture(scope="module")
def room(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    with lab_classroom(tmp_path_factory.mktemp("decoys"), LAB, ["healthy", "healthy"]) as r:
        from labsim.openstack import NO_VALID_HOST

        first, second = r.students
        # first: a classmate's decoy of the same name, ACTIVE, listed beside the real one
        r.cloud.add_server(f"hello_chameleon-{first.chameleon_user}", "m1.small", [],
                           user_id=CLASSMATE)
        # second: their own leftover server in ERROR beside the working one
        r.cloud.add_server(f"hello_chameleon-{second.chameleon_user}", "m1.small", [],
                           error=NO_VALID_HOST, user_id=r.cloud.user_id)  # a second id
        reset_cache()
        yield r


def graded(room, sim, **fields) -> dict[str, object]:
    lab = load_lab(LAB)
    data = {"netid": sim.netid, "chameleon_user": sim.chameleon_user,
            "ssh_key": str(sim.key_path), **fields}
    student = from_dict(data, Path("."), "test")
    result = grade(lab, load_rubric(rubric_path(LAB), lab), student, site_for(lab))
    return {c.check: c for c in result.items}


def test_with_the_owner_known_a_decoy_is_not_the_students(room) -> None:
    items = graded(room, student_of(room, "healthy"), chameleon_user_id=room.cloud.user_id)
    assert items["server_active"].observed == "passed"
    assert items["hello_file"].observed == "passed"
    assert any("1 of another user" in e["summary"] for e in items["server_active"].evidence)


def test_without_the_owner_same_named_servers_of_two_users_are_no_grade(room) -> None:
    items = graded(room, student_of(room, "healthy"))
    server = items["server_active"]
    assert server.observed == "failed" and "belong to different users" in server.feedback
    assert CLASSMATE in server.feedback


def test_a_students_own_leftover_error_server_does_not_hide_the_working_one(room) -> None:
    second = room.students[1]
    items = graded(room, second)
    assert items["server_active"].observed == "passed", items["server_active"].feedback
    assert items["hello_file"].observed == "passed"


def test_two_students_with_one_chameleon_user_are_refused(tmp_path: Path, key: Path) -> None:
    roster = tmp_path / "roster.csv"
    roster.write_text(
        f"netid,chameleon_user,ssh_key\nab1234,ab1234_nyu,{key}\nzz9999,ab1234_nyu,{key}\n"
    )
    with pytest.raises(BadInput, match="line 3: chameleon user ab1234_nyu is already line 2"):
        load_roster(roster)


def test_a_server_at_each_of_two_allowed_sites_is_graded_where_it_works(room) -> None:
    """A lab that allows two sites (here hello-chameleon, as if its manual allowed CHI@UC
    first): the student's leftover ERROR server of the name at CHI@UC does not hide the
    working one at KVM@TACC; the result says where it was graded and notes the other."""
    from labsim.openstack import NO_VALID_HOST

    second = room.students[1]
    room.cloud.add_server(f"hello_chameleon-{second.chameleon_user}", "baremetal", [],
                          error=NO_VALID_HOST, region="CHI@UC")
    reset_cache()
    lab = load_lab(LAB)
    lab.config = {**lab.config, "site": "CHI@UC", "sites": ["CHI@UC", "KVM@TACC"]}
    data = {"netid": second.netid, "chameleon_user": second.chameleon_user,
            "ssh_key": str(second.key_path)}
    result = grade(lab, load_rubric(rubric_path(LAB), lab), from_dict(data, Path("."), "test"),
                   site_for(lab))
    server = next(c for c in result.items if c.check == "server_active")
    assert server.observed == "passed", server.feedback
    assert server.measurements["site"] == "KVM@TACC", [e["summary"] for e in server.evidence]
    assert any("also at CHI@UC (ERROR)" in e["summary"] for e in server.evidence)
