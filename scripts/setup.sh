#!/usr/bin/env bash
# Set up a fresh machine for labgrader: Debian packages, then a virtual environment in .venv.
# Idempotent: a second run installs nothing new.
set -euo pipefail
cd "$(dirname "$0")/.."

sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"

packages=()
# Python with venv (Debian splits ensurepip out into python3-venv); the simulator's stand-ins
# run with /usr/bin/python3, which the login user cc can read.
[ -x /usr/bin/python3 ] || packages+=(python3)
python3 -c 'import ensurepip' 2>/dev/null || packages+=(python3-venv)
# The simulator runs a real OpenSSH server; ssh-keygen makes the simulated students' keys.
[ -x /usr/sbin/sshd ] || packages+=(openssh-server)
command -v ssh-keygen >/dev/null || packages+=(openssh-client)
# eval-online-chi's simulated nodes each run a real Prometheus (Debian's package, 2.42).
command -v prometheus >/dev/null || packages+=(prometheus)
if [ ${#packages[@]} -gt 0 ]; then
  echo "setup: installing ${packages[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "${packages[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv" >&2
  python3 -m venv .venv
fi
# labgrader itself (editable) with the test tools, and the classroom simulator beside it: the
# simulator is its own distribution (simulator/), which the plain install never ships.
.venv/bin/python -m pip install -q --disable-pip-version-check \
  -e '.[test]' -e ./simulator 2>&1 | grep -v 'is ignored: it is neither' >&2 || true
.venv/bin/python -c 'import graders, labsim, chi, fabric' # fail here, not halfway through a run

# A wheelhouse of the plain install's dependencies, so that the install tests build a fresh
# venv from the wheel without reaching any index (tests talk to loopback only). Made again
# only when pyproject.toml changes.
wheelhouse=.cache/wheelhouse
stamp=$(sha256sum pyproject.toml | cut -c1-16)
if [ "$(cat "$wheelhouse/.stamp" 2>/dev/null)" != "$stamp" ]; then
  echo "setup: filling $wheelhouse with the plain install's wheels" >&2
  rm -rf "$wheelhouse"
  .venv/bin/python -m pip wheel -q --disable-pip-version-check -w "$wheelhouse" . 2>&1 \
    | grep -v 'is ignored: it is neither' >&2 || true
  rm -f "$wheelhouse"/labgrader-*.whl  # the tests build their own from the working tree
  echo "$stamp" > "$wheelhouse/.stamp"
fi
