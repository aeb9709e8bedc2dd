from __future__ import annotations

from pathlib import Path

import pytest

from graders.evidence import MAX_EXCERPT, MAX_MESSAGE, Evidence, Observation, cap, clean, redact
from graders.status import Status


def test_private_keys_tokens_and_passwords_are_redacted() -> None:
    text = (
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAA\n"
        "-----END OPENSSH PRIVATE KEY-----\n"
        "X-Auth-Token: gAAAAABk123\npassword=hunter2\n"
        '{"application_credential_secret": "s3cr3t-value"}\nAuthorization: Bearer abc.def\n'
    )
    out = redact(text)
    for secret in ("b3BlbnNzaC1rZXktdjEAAAA", "gAAAAABk123", "hunter2", "s3cr3t-value", "abc.def"):
        assert secret not in out
    assert "[REDACTED PRIVATE KEY]" in out


def test_grader_credential_values_are_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OS_APPLICATION_CREDENTIAL_SECRET", "zz-very-secret-zz")
    ev = Evidence.make("api", "answer", {"echo": "it said zz-very-secret-zz"})
    assert "zz-very-secret-zz" not in ev.excerpt


def test_excerpts_are_capped_and_hashed() -> None:
    ev = Evidence.make("http", "GET / -> 200", "x" * (MAX_EXCERPT * 3))
    assert ev.truncated and len(ev.excerpt.encode()) < MAX_EXCERPT + 64
    assert len(ev.sha256) == 64 and ev.sha256 == ev.digest()
    assert cap("ü" * 10, 5)[0].startswith("üü")  # never splits a character


PUTTY = (
    "PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nComment: ta@course\n"
    "Public-Lines: 2\nAAAAC3NzaC1lZDI1NTE5AAAAIPUBLIC\nPrivate-Lines: 1\n"
    "AAAAIPRIVATEKEYMATERIAL\nPrivate-MAC: 5c1f2b0d\n"
)


@pytest.mark.parametrize(
    "text, secret, kept",
    [
        ("Authorization: Basic dXNlcjpodW50ZXIy", "dXNlcjpodW50ZXIy", "Authorization: "),
        ("authorization: Bearer abc.def.ghi", "abc.def.ghi", "authorization:"),
        ("{'Authorization': 'Token ab99', 'Accept': 'json'}", "ab99", "'Accept': 'json'"),
        ('{"password": "correct horse battery staple"}', "horse battery", '{"password": "'),
        ('{"password": "ab\\"cd ef", "user": "cc"}', "cd ef", '"user": "cc"'),
        ("https://ta:s3cretpw@host/v3", "s3cretpw", "https://ta:"),
        ("password p@ss", "p@ss", "password "),
        ("--password hunter2 --user cc", "hunter2", "--user cc"),
        ("Set-Cookie: session=abc123; Path=/; HttpOnly", "abc123", "Set-Cookie: "),
        ("Cookie: theme=dark; session=s3ss", "s3ss", "Cookie: "),
        ('{"token": {"id": "gAAAAid", "expires_at": "x"}}', "gAAAAid", '{"token": '),
        (PUTTY + "after", "PRIVATEKEYMATERIAL", "after"),
        ("X-Subject-Token: gAAAAB3", "gAAAAB3", "X-Subject-Token: "),
        ("secret_key: your-secret-key", "your-secret-key", "secret_key: "),
        ("aws_secret_access_key=wJalr/K7", "wJalr/K7", "aws_secret_access_"),
    ],
)
def test_secrets_in_every_form_are_redacted(text: str, secret: str, kept: str) -> None:
    out = redact(text)
    assert secret not in out and kept in out and "[REDACTED" in out
    assert redact(out) == out  # redacting twice changes nothing


@pytest.mark.parametrize(
    "text",
    [
        "The password is wrong; check your password and try again.",
        "Password authentication failed for user cc",
        "GET http://127.1.0.2:8080/api/projects?page_size=10 -> 200 (12 ms)",
        "tokens: 5, passed: 3, secrets found: none",
        "MLflow has no experiment food11-classifier",
        "bucket production at http://127.1.0.2:9000 is empty",
        "region CHI@UC, interface public, API 3",
        '{"dag_id": "pipeline_1_get_and_label", "is_paused": false}',
    ],
)
def test_ordinary_text_is_left_alone(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OS_REGION_NAME", "CHI@UC")  # public settings are not secrets
    monkeypatch.setenv("OS_INTERFACE", "public")
    monkeypatch.setenv("OS_IDENTITY_API_VERSION", "3")
    assert redact(text) == text and clean(text) == text


@pytest.mark.parametrize(
    "name",
    [
        "OS_ACCESS_TOKEN",
        "JUPYTERHUB_API_TOKEN",
        "LABGRADER_GITHUB_TOKEN",
        "OS_APPLICATION_CREDENTIAL_SECRET",
        "OS_PROJECT_ID",  # every OS_* that is not a public setting
        "MY_DB_PASSWORD",
        "S3_SECRET",
    ],
)
def test_every_credential_variables_value_is_redacted(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(name, "v4lue-of-the-grader")
    assert redact("answered: v4lue-of-the-grader!") == "answered: [REDACTED]!"


def test_messages_help_measurements_are_cleaned_capped_and_redacted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LABGRADER_GITHUB_TOKEN", "ghp_graderstoken")
    obs = Observation(
        "c",
        Status.FAILED,
        "saw \x1b[2J\x1b[32mAll checks passed\x1b[0m\r\x00 with ghp_graderstoken" + "x" * 5000,
        "Try: password=hunter2\x07",
        {"gpu0_name": "A100\x1b[8m", "n": 3},
    )
    assert obs.message.startswith("saw ␛[2J␛[32mAll checks passed␛[0m with [REDACTED]")
    assert len(obs.message.encode()) <= MAX_MESSAGE + 32 and obs.message.endswith("truncated]")
    assert obs.help == "Try: password=[REDACTED]"
    assert obs.measurements == {"gpu0_name": "A100␛[8m", "n": 3}
    obs.message = "set later \x1b[8m"  # as the runner sets it
    assert obs.message == "set later ␛[8m"
    back = Observation.from_dict({**obs.to_dict(), "message": "stored \x1b[8m"})
    assert back.message == "stored ␛[8m"


def test_evidence_summaries_and_excerpts_are_cleaned() -> None:
    ev = Evidence.make("command", "cat x\x1b[2K -> 0", "line\r\n\x1b[8mhidden\x9b\nCookie: s=1")
    assert ev.summary == "cat x␛[2K -> 0"
    assert ev.excerpt == "line\n␛[8mhidden\nCookie: [REDACTED]" and ev.sha256 == ev.digest()


def test_clean_is_linear_on_hostile_megabytes() -> None:
    """Each shape once cost a backtracking search from every start; all are read once."""
    mib = 1 << 20
    for text in (
        "a" * mib,
        "token: " * (mib // 7),
        'password="' * (mib // 10),
        "://a:" * (mib // 5),
        "-----BEGIN PRIVATE KEY-----" * (mib // 27),
        "token: {" * (mib // 8),
        "password " * (mib // 9),
    ):
        assert len(clean(text).encode()) <= MAX_MESSAGE + 32


def test_a_crashed_gradings_reason_is_redacted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The crash text goes to the store and to gradebook.csv and needs_regrade.csv."""
    import graders.grade
    from graders.batch import observe_all
    from graders.errors import GraderFault
    from graders.labs import load_lab
    from graders.report.csv import reason
    from graders.results import BatchRow
    from graders.store import Store
    from graders.student import Student

    monkeypatch.setenv("OS_ACCESS_TOKEN", "oidc-token-of-the-ta")

    def crash(*_: object) -> None:
        raise GraderFault("Keystone said: token oidc-token-of-the-ta expired\x1b[8m")

    monkeypatch.setattr(graders.grade, "observe", crash)
    store = Store(tmp_path / "s.sqlite", "hello-chameleon")
    observe_all(load_lab("hello-chameleon"), [Student("ab1", "ab1", "k")], None, store, "0", jobs=1)
    (stored,) = store.latest()
    store.close()
    assert stored.outcome == "crashed" and "oidc-token-of-the-ta" not in stored.reason
    said = "Keystone said: token [REDACTED] expired␛[8m"
    assert stored.reason == f"graders.errors.GraderFault: {said}"
    raw = BatchRow({"netid": "ab1"}, None, "KeyError: Authorization: Basic dXNl\x1b[8m")
    assert reason(raw) == "grader crashed: KeyError: Authorization: [REDACTED]"


def test_a_clouds_yaml_secret_is_redacted_once_read(tmp_path: Path) -> None:
    """Credentials read from clouds.yaml are not in the environment: reading them keeps them
    for redaction."""
    from graders.course import Site
    from graders.probes.credentials import credentials_for

    clouds = tmp_path / "clouds.yaml"
    clouds.write_text(
        "clouds:\n  chi-tacc:\n    auth_type: v3applicationcredential\n    region_name: CHI@TACC\n"
        "    auth:\n      auth_url: https://chi.tacc.example:5000\n"
        "      application_credential_id: 0123abcd\n"
        "      application_credential_secret: from-clouds-yaml-zz9\n"
    )
    site = Site("CHI@TACC", "https://chi.tacc.example:5000/v3", cloud="chi-tacc")
    credentials_for(site, {"OS_CLIENT_CONFIG_FILE": str(clouds)})
    assert redact("Keystone echoed from-clouds-yaml-zz9") == "Keystone echoed [REDACTED]"
