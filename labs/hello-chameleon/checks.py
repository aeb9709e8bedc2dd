"""Hello, Chameleon: the checks follow the lab's steps.

Reserve and launch `hello_chameleon-{USER}` at KVM@TACC, attach a floating IP, log in as `cc`,
write `Hello from $(hostname)` to `~/hello.txt`, copy it to your laptop, edit it, copy it back.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from graders.checks import Lab, check
from graders.labkit.chameleon import server_check
from graders.labkit.instances import course_key_check, login_check

MAX_FILE = 65536


@dataclass(frozen=True)
class HelloFile:
    hostname: str
    text: str


server_active = server_check("Server hello_chameleon-<user> is ACTIVE with a floating IP")


ssh_login = login_check(after=server_active)


@check(title="The hostname starts with hello-chameleon", depends=[ssh_login], vantage="host")
def hostname(lab: Lab) -> None:
    """`hostname` on the instance starts with hello-chameleon, as the lab's server name makes it."""
    name = lab.run("hostname").stdout.strip()
    prefix = lab.config["hostname_prefix"]
    lab.require(
        name.startswith(prefix),
        f"hostname is {name!r}, expected it to start with {prefix}",
        "Are you grading the right server? The floating IP may belong to another one.",
    )


@check(title="~/hello.txt says Hello from <hostname>", depends=[ssh_login], vantage="host")
def hello_file(lab: Lab) -> HelloFile:
    """`~/hello.txt` of cc exists and holds the line `Hello from <hostname>` the lab asks for."""
    path = lab.config["hello_file"]
    name = lab.run("hostname").stdout.strip()
    result = lab.run(f'head -c {MAX_FILE} "$HOME"/{shlex.quote(path)}')
    lab.require(
        result.ok,
        f"~/{path} cannot be read on the instance: {result.stderr.strip()}",
        f'Run: echo "Hello from $(hostname)" > ~/{path}',
    )
    text = result.stdout
    expected = f"Hello from {name}"
    lab.measure("lines", len(text.splitlines()))
    lab.require(
        any(line.strip() == expected for line in text.splitlines()),
        f"~/{path} does not contain the line {expected!r}; its first line is "
        f"{(text.splitlines() or [''])[0]!r}",
        f'Keep the original line and add your edits: echo "Hello from $(hostname)" '
        f"> ~/{path}, then copy, edit and copy back.",
    )
    return HelloFile(name, text)


@check(title="~/hello.txt was edited and copied back", depends=[hello_file])
def hello_file_edited(lab: Lab, hello_file: HelloFile) -> None:
    """After the scp round trip the file is no longer exactly the one line the lab wrote."""
    lab.note(f"judged ~/{lab.config['hello_file']} as hello_file read it", hello_file.text)
    lab.require(
        hello_file.text.strip() != f"Hello from {hello_file.hostname}",
        f"~/{lab.config['hello_file']} still holds only the original line",
        "Copy it to your laptop with scp, edit it there, and copy it back.",
    )


course_key = course_key_check(after=server_active)
