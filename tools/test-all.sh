#!/usr/bin/env bash
# Runs every test of siproxd-rs: formatting and lints, unit tests, fixture
# and scenario tests, and the end-to-end tests that start the real daemon
# (as root, in network namespaces this script's tests create and remove).
#
# Installs the Debian packages the tests need when they are missing and we
# are root; otherwise names what is missing and fails.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v sipp >/dev/null 2>&1 || missing+=(sip-tester)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v tcpdump >/dev/null 2>&1 || missing+=(tcpdump)
command -v ping >/dev/null 2>&1 || missing+=(iputils-ping)
command -v cc >/dev/null 2>&1 || missing+=(gcc)
command -v mandoc >/dev/null 2>&1 || missing+=(mandoc)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
command -v dpkg-deb >/dev/null 2>&1 || missing+=(dpkg)
command -v unshare >/dev/null 2>&1 || missing+=(util-linux)
command -v mount >/dev/null 2>&1 || missing+=(mount)
command -v shellcheck >/dev/null 2>&1 || missing+=(shellcheck)
# plugins/blacklist links the system libsqlite3 (rusqlite without `bundled`).
[ -e /usr/include/sqlite3.h ] || missing+=(libsqlite3-dev)
if ((${#missing[@]})); then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "test-all: installing ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        echo "test-all: missing packages: ${missing[*]} (as root: apt-get install -y ${missing[*]})" >&2
        exit 1
    fi
fi
for tool in sipp ip tcpdump ping cc cargo mandoc debootstrap systemd-analyze dpkg-deb unshare mount shellcheck; do
    command -v "$tool" >/dev/null 2>&1 || { echo "test-all: $tool is still missing" >&2; exit 1; }
done
# The packaging tests build the .deb with cargo-deb (a crates.io tool;
# about 2 minutes to install) and must not skip here.
if ! cargo deb --version >/dev/null 2>&1; then
    echo "test-all: installing cargo-deb"
    cargo install cargo-deb --locked --quiet
fi
export SIPROXD_REQUIRE_PACKAGING_TOOLS=1
if [ "$(id -u)" != 0 ]; then
    echo "test-all: WARNING: not running as root: the end-to-end tests (daemon as root, network namespaces) will be SKIPPED" >&2
fi

echo "test-all: cargo fmt --check"
cargo fmt --all -- --check
echo "test-all: cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
echo "test-all: cargo test"
cargo test --workspace
