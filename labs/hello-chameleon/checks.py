"""Hello, Chameleon: the checks follow the lab's steps.

Reserve and launch `hello_chameleon-{USER}` at KVM@TACC, attach a floating IP, log in as `cc`,
write `Hello from $(hostname)` to `~/hello.txt`, copy it to your laptop, edit it, copy it back.
"""

from __future__ import annotations

import base64
import codecs
import shlex
from dataclasses import dataclass

from graders.checks import Lab, check
from graders.errors import Failure
from graders.labkit.chameleon import lease_check, server_check
from graders.labkit.instances import course_key_check, login_check

MAX_FILE = 65536


@dataclass(frozen=True)
class HelloFile:
    hostname: str
    text: str


lease = lease_check(title="Lease hello_chameleon-<user> is ACTIVE")

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
    """`~/hello.txt` of cc exists and is recognisably the lab's `Hello from <hostname>` file:
    a line starts with `Hello from` or the text names the hostname. The lab then asks for "a
    change (any change!)" on the laptop, so the line itself may have been edited; Windows
    editors' encodings (UTF-8 with a BOM, UTF-16) are read as such."""
    path = lab.config["hello_file"]
    name = lab.run("hostname").stdout.strip()
    file = f'"$HOME"/{shlex.quote(path)}'
    # The first head names a missing file (or a directory) on stderr; the second sends the
    # bytes as base64, so that a UTF-16 file comes back as its bytes.
    result = lab.run(
        f"head -c 1 -- {file} >/dev/null && head -c {MAX_FILE} -- {file} | base64 -w 0"
    )
    lab.require(
        result.ok,
        f"~/{path} cannot be read on the instance: {result.stderr.strip()[:200]}",
        f'Run: echo "Hello from $(hostname)" > ~/{path}',
    )
    try:
        data = base64.b64decode(result.stdout.strip(), validate=True)
    except ValueError:
        raise Failure(f"reading ~/{path} did not give base64: {result.stdout[:80]!r}") from None
    text = decode_text(data)
    lines = text.splitlines()
    lab.measure("lines", len(lines))
    lab.note(f"~/{path} as decoded", text)
    lab.require(
        text.strip(),
        f"~/{path} is empty",
        f'Write it again: echo "Hello from $(hostname)" > ~/{path}, then copy, edit and copy back.',
    )
    lab.require(
        is_hello(text, name),
        f"~/{path} is not the lab's file: no line starts with 'Hello from' and it never names "
        f"the hostname {name!r}; its first line is {lines[0][:120]!r}",
        f'The lab writes it with: echo "Hello from $(hostname)" > ~/{path}; copy it to your '
        "laptop, change it, and copy it back.",
    )
    return HelloFile(name, text)


@check(title="~/hello.txt was edited and copied back", depends=[hello_file])
def hello_file_edited(lab: Lab, hello_file: HelloFile) -> None:
    """After the scp round trip the file is no longer exactly the one line the lab wrote (any
    change counts, the line itself edited too; line endings and a BOM are no change)."""
    lab.note(f"judged ~/{lab.config['hello_file']} as hello_file read it", hello_file.text)
    lab.require(
        hello_file.text.strip() != f"Hello from {hello_file.hostname}",
        f"~/{lab.config['hello_file']} still holds only the original line",
        "Copy it to your laptop with scp, edit it there, and copy it back.",
    )


def decode_text(data: bytes) -> str:
    """The file's text as an editor saved it: UTF-8, with or without a BOM (older Notepad
    writes one); UTF-16 with its BOM (Notepad's "Unicode"), or without one when every other
    byte is NUL; anything else as UTF-8 with replacement characters."""
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8) :].decode("utf-8", "replace")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16", "replace")  # the BOM says which, and is dropped
    if len(data) >= 2 and len(data) % 2 == 0:  # mostly ASCII: half the bytes are NUL
        even, odd = data[0::2], data[1::2]
        if 0 not in even and odd.count(0) * 2 >= len(odd):
            return data.decode("utf-16-le", "replace")
        if 0 not in odd and even.count(0) * 2 >= len(even):
            return data.decode("utf-16-be", "replace")
    return data.decode("utf-8", "replace")


def is_hello(text: str, hostname: str) -> bool:
    """The text is recognisably the lab's file: a line starts with "Hello from" (any case),
    or the hostname appears in it."""
    if hostname and hostname.lower() in text.lower():
        return True
    return any(line.strip().lower().startswith("hello from") for line in text.splitlines())


course_key = course_key_check(after=server_active)
