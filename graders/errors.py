"""Exceptions that carry a meaning for grading.

A check says what it saw by raising one of these; the runner turns them into statuses.
Anything else escaping a check is a grader fault (`error`), never charged to the student.
"""

from __future__ import annotations

# Exit codes. check: 0 every visible check passed, 1 some did not. batch, rescore, merge: 0
# every student's result is complete, 1 some student's grade is not known (a grader error or
# a crash: needs_regrade.csv). Every command: 2 bad input (BadInput), 130 interrupted.
EXIT_OK, EXIT_NOT_ALL_PASSED, EXIT_NEEDS_REGRADE, EXIT_BAD_INPUT = 0, 1, 1, 2
EXIT_INTERRUPTED = 130


class BadInput(Exception):
    """Input the user must fix (student file, lab id, rubric, key): one line, exit code 2."""


class Failure(Exception):
    """The student's system answered, and the answer is wrong: status `failed`.

    `help` is what to try; it is shown under the check in the student's feedback.
    """

    def __init__(self, message: str, help: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.help = help


class Skip(Exception):
    """The check does not apply to this student (e.g. no repository named): status `skipped`,
    with the reason as its message; never charged as a failure."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TransportError(Exception):
    """The student's system could not be reached, or answered with a transient fault.

    The runner retries these (and only these). `unreachable` tells what remains after the
    last attempt: True for refused / reset / timed out / no SSH banner (status
    `unreachable`); False for a server that did answer, badly (a 5xx: status `failed`).
    """

    def __init__(self, message: str, *, unreachable: bool = True, help: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.unreachable = unreachable
        self.help = help


class GraderFault(Exception):
    """Something on the grader's side broke (bad credentials, the cloud API down): `error`."""
