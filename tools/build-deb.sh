#!/bin/sh
# Builds the Debian package siproxd-rs with cargo-deb.
#
#   tools/build-deb.sh [cargo-deb options...]
#
# cargo-deb takes its file list from [package.metadata.deb] in Cargo.toml.
# Two of those inputs are made here first, under target/deb-stage/:
#   plugins/        every plugin of the workspace as plugin_<name>.so
#                   (tools/stage-plugins.sh; this also builds the release
#                   binary, so cargo-deb runs with --no-build);
#   siproxd.conf    /etc/siproxd.conf of the package: etc/siproxd.conf with
#                   the Debian paths and the siproxd system user filled in.
# While the workspace has no plugin crate, the no-plugins variant (same
# package name, no /usr/lib/siproxd/ files) is built instead.
# Prints the path of the .deb on its last line.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
stage=$root/target/deb-stage
cargo=${CARGO:-cargo}

if ! "$cargo" deb --version >/dev/null 2>&1; then
    echo "build-deb: cargo-deb is missing: cargo install cargo-deb --locked" >&2
    exit 1
fi
rm -rf "$stage"
mkdir -p "$stage/plugins"
"$root/tools/stage-plugins.sh" "$stage/plugins" >/dev/null
"$root/tools/debian-conf.sh" <"$root/etc/siproxd.conf" >"$stage/siproxd.conf"
cd "$root"
variant=
if ! ls "$stage/plugins"/plugin_*.so >/dev/null 2>&1; then
    echo "build-deb: the workspace has no plugin crate: packaging without plugins" >&2
    variant="--variant=no-plugins"
fi
# Not a pipeline: a failing cargo-deb must fail this script.
out=$("$cargo" deb --no-build --quiet $variant "$@")
printf '%s\n' "$out" | tail -n 1
