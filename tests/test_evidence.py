from __future__ import annotations

import pytest

from graders.evidence import MAX_EXCERPT, Evidence, cap, redact


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
