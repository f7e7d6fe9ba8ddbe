#!/bin/sh
# Regenerates the generated files of the FreeBSD port
# packaging/freebsd/net/siproxd-rs from this tree, on any system with a
# POSIX shell and awk (the ports tree's own `make cargo-crates` needs
# FreeBSD; this gives the same CARGO_CRATES list from Cargo.lock).
#
#   tools/freebsd-port.sh crates            print Makefile.crates
#   tools/freebsd-port.sh plist PLUGIN...   print pkg-plist for these
#                                           plugin files (plugin_x.so)
#   tools/freebsd-port.sh update            rewrite both files in place
#                                           (builds the release workspace
#                                           to learn the plugins)
# The packaging tests compare the committed files with this output.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
port=$root/packaging/freebsd/net/siproxd-rs

crates() {
    # Every crates.io package of Cargo.lock as name-version, in lock order
    # (Cargo.lock is sorted by name).  Path dependencies (the workspace's
    # own crates) have no source and are left out; a git source would need
    # CARGO_GIT_SUBDIR by hand, so it is refused.
    awk '
        /^\[\[package\]\]/ { flush(); name = ""; version = ""; source = ""; next }
        /^name = /    { name = $3; gsub(/"/, "", name) }
        /^version = / { version = $3; gsub(/"/, "", version) }
        /^source = /  { source = $3; gsub(/"/, "", source) }
        function flush() {
            if (source ~ /^registry\+https:\/\/github.com\/rust-lang\/crates.io-index/)
                list[n++] = name "-" version
            else if (source != "") {
                print "freebsd-port: unsupported source " source " of " name > "/dev/stderr"
                exit 2
            }
        }
        END {
            flush()
            printf "CARGO_CRATES=\t"
            for (i = 0; i < n; i++)
                printf "%s%s\n", (i ? "\t\t" : ""), list[i] (i < n - 1 ? " \\" : "")
        }
    ' "$root/Cargo.lock"
}

plist() {
    # Sorted the way the ports tree sorts plists (plain byte order).
    {
        echo "@sample etc/siproxd.conf.sample"
        echo "include/siproxd/siproxd_plugin.h"
        for so in "$@"; do
            echo "lib/siproxd/$so"
        done
        echo "sbin/siproxd"
        echo "share/man/man5/siproxd.conf.5.gz"
        echo "share/man/man7/siproxd-plugin.7.gz"
        echo "share/man/man8/siproxd.8.gz"
    } | LC_ALL=C sort
}

case ${1:-} in
crates) crates ;;
plist) shift; plist "$@" ;;
update)
    stage=$(mktemp -d)
    trap 'rm -rf "$stage"' EXIT
    "$root/tools/stage-plugins.sh" "$stage" >/dev/null
    # shellcheck disable=SC2046
    plist $(cd "$stage" && ls) >"$port/pkg-plist"
    crates >"$port/Makefile.crates"
    ;;
*) echo "usage: freebsd-port.sh crates | plist PLUGIN... | update" >&2; exit 2 ;;
esac
