#!/usr/bin/env bash
# Idempotent set-up shared by scripts/test, scripts/demo and scripts/lint.
#
# Makes sure that:
#   1. RabbitMQ's binaries exist (Debian/Ubuntu package `rabbitmq-server`). The package is
#      installed with its system service kept from starting: tests and the demo run private
#      nodes on loopback, never the system service.
#   2. .venv exists, made by a Python >= 3.11 (installs python3-venv if venv needs it).
#   3. Debian's chromium and chromium-driver exist (the browser test; required on CI).
#   4. The project is installed editable with its `test` and `dev` extras; pip runs again only
#      when setup.py or pyproject.toml changed (a hash kept in .venv/.setup-stamp).
# A second run does no work and takes well under a second.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$PWD"

RABBITMQ_SERVER=/usr/lib/rabbitmq/bin/rabbitmq-server
VENV="$ROOT/.venv"
STAMP="$VENV/.setup-stamp"
MIN_PY=(3 11)

say() { echo "setup: $*" >&2; }
die() { echo "setup: error: $*" >&2; exit 1; }

# Two scripts started at once (test and demo) must not run pip into the same venv together.
LOCK="${TMPDIR:-/tmp}/amqp-channels-setup-$(id -u)-$(echo "$ROOT" | sha256sum | cut -c1-12).lock"
if command -v flock >/dev/null 2>&1 && { exec 9>"$LOCK"; } 2>/dev/null; then
    flock -w 900 9 || die "another scripts/setup.sh for $ROOT has held its lock for 15 minutes"
fi

# --- root and apt -------------------------------------------------------------------------

# Run a command as root: directly when we are root, else through sudo (without a password
# prompt when there is no terminal to answer it, as in CI).
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        if [ -t 0 ]; then sudo "$@"; else sudo -n "$@"; fi
    else
        return 1
    fi
}

APT_UPDATED=0
POLICY_RC=/usr/sbin/policy-rc.d
OUR_POLICY_RC=0

remove_our_policy_rc() {
    if [ "$OUR_POLICY_RC" -eq 1 ]; then
        as_root rm -f "$POLICY_RC" || true
        OUR_POLICY_RC=0
    fi
}
trap remove_our_policy_rc EXIT

# apt_try PACKAGE...: install Debian packages as root; non-zero when that is not possible.
apt_try() {
    command -v apt-get >/dev/null 2>&1 || return 1
    as_root true 2>/dev/null || return 1
    # Keep maintainer scripts from starting the services they install (the standard
    # policy-rc.d mechanism, honoured by invoke-rc.d and deb-systemd-invoke). An existing
    # policy file is the machine owner's: leave it alone.
    if [ ! -e "$POLICY_RC" ]; then
        printf '#!/bin/sh\nexit 101\n' | as_root tee "$POLICY_RC" >/dev/null || return 1
        OUR_POLICY_RC=1
        as_root chmod 755 "$POLICY_RC" || return 1
    fi
    if [ "$APT_UPDATED" -eq 0 ]; then
        say "apt-get update"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq || return 1
        APT_UPDATED=1
    fi
    say "apt-get install $*"
    local status=0
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null || status=$?
    remove_our_policy_rc
    return "$status"
}

# apt_install WHAT PACKAGE...: install Debian packages, or say what to install and exit.
apt_install() {
    local what="$1"; shift
    apt_try "$@" && return 0
    local why="apt-get failed"
    if ! command -v apt-get >/dev/null 2>&1; then
        why="this is no Debian/Ubuntu machine (no apt-get)"
    elif ! as_root true 2>/dev/null; then
        why="we are not root and sudo is missing or wants a password"
    fi
    die "$what is missing and could not be installed: $why. Install it with:
    sudo apt-get update && sudo apt-get install -y $*"
}

# --- RabbitMQ -----------------------------------------------------------------------------

if [ ! -x "$RABBITMQ_SERVER" ]; then
    apt_install "RabbitMQ ($RABBITMQ_SERVER)" rabbitmq-server
    [ -x "$RABBITMQ_SERVER" ] || die "rabbitmq-server was installed but $RABBITMQ_SERVER is missing"
    # Under systemd the package enables its service (and may have started it despite
    # policy-rc.d): stop and disable it, since only private nodes on loopback run here.
    if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
        say "disabling the rabbitmq-server system service (tests and demo run private nodes)"
        as_root systemctl disable --now rabbitmq-server >/dev/null 2>&1 || true
    fi
fi

# --- the browser of integration/tests/test_browser.py ---------------------------------------

# Debian's chromium and its matching chromedriver (Selenium drives it; nothing is downloaded
# at run time). On CI the browser test must run, so a failed install fails here; elsewhere
# the test skips and says why.
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
    if [ -n "${CI:-}" ]; then
        apt_install "chromium (for the browser test)" chromium chromium-driver
    else
        apt_try chromium chromium-driver \
            || say "chromium could not be installed: the browser test will skip"
    fi
fi

# --- Python -------------------------------------------------------------------------------

# py_ok PYTHON: true when PYTHON runs and is at least MIN_PY.
py_ok() {
    "$1" -c "import sys; sys.exit(sys.version_info[:2] < (${MIN_PY[0]}, ${MIN_PY[1]}))" \
        >/dev/null 2>&1
}

pick_python() {
    local candidate
    for candidate in ${PYTHON:-} python3 python3.13 python3.12 python3.11; do
        if command -v "$candidate" >/dev/null 2>&1 && py_ok "$candidate"; then
            command -v "$candidate"
            return 0
        fi
    done
    return 1
}

if [ -e "$VENV" ] && ! py_ok "$VENV/bin/python"; then
    say ".venv is broken or older than Python ${MIN_PY[0]}.${MIN_PY[1]}: making it anew"
    rm -rf "$VENV"
fi

if [ ! -e "$VENV" ]; then
    if ! command -v python3 >/dev/null 2>&1; then
        apt_install "python3" python3 python3-venv
    fi
    PY="$(pick_python)" || die "Python ${MIN_PY[0]}.${MIN_PY[1]} or newer is needed, but \
python3 is $(python3 --version 2>&1 || echo missing); install python3.11 (or newer) and \
run again, or name one with PYTHON=/path/to/python3.11 $0"
    # Debian splits venv's pip bootstrap (ensurepip) into python3.X-venv.
    install_venv_module() {
        local pyver
        pyver="$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
        apt_try "python$pyver-venv" || apt_install "the venv module for $PY" python3-venv
    }
    if ! "$PY" -c "import ensurepip, venv" >/dev/null 2>&1; then
        install_venv_module
    fi
    say "creating .venv with $PY ($("$PY" --version 2>&1))"
    if ! "$PY" -m venv "$VENV"; then
        rm -rf "$VENV"
        say "'$PY -m venv' failed: installing the venv module and trying once more"
        install_venv_module
        "$PY" -m venv "$VENV" || { rm -rf "$VENV"; die "'$PY -m venv .venv' failed (see above)"; }
    fi
    "$VENV/bin/python" -m pip install -q --upgrade pip \
        || say "could not upgrade pip in .venv; going on with $("$VENV/bin/python" -m pip --version)"
fi

# --- the project --------------------------------------------------------------------------

want="$(cat setup.py pyproject.toml | sha256sum | cut -d' ' -f1)"
have="$(cat "$STAMP" 2>/dev/null || true)"
if [ "$want" != "$have" ]; then
    say "pip install -e .[test,dev] (setup.py or pyproject.toml changed, or first run)"
    # PYTHONWARNINGS: setuptools warns about editable installs in the (isolated) build.
    PYTHONWARNINGS=ignore "$VENV/bin/python" -m pip install -q -e ".[test,dev]" \
        || die "pip install -e '.[test,dev]' failed (see pip's output above)"
    echo "$want" > "$STAMP"
fi
