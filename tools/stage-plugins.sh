#!/bin/sh
# Builds the workspace in the release profile and copies every plugin it
# produces into DIR under the name the daemon loads: plugin_<name>.so.
#
#   tools/stage-plugins.sh DIR
#
# A plugin is a workspace crate under plugins/ whose library is a cdylib and
# whose package (hence library) is named plugin_<name>; cargo builds it as
# libplugin_<name>.so.  The list comes from cargo's own build report, so a
# plugin added to the workspace later is packaged without touching this
# script, and a helper crate under plugins/ that is not a cdylib is not.
# Prints the names staged, one a line.  Used by tools/build-deb.sh and the
# packaging tests; the FreeBSD port and the OpenWrt Makefile do the same
# renaming in their own install steps.
set -eu
dir=${1:?usage: stage-plugins.sh DIR}
root=$(cd "$(dirname "$0")/.." && pwd)
cargo=${CARGO:-cargo}

mkdir -p "$dir"
rm -f "$dir"/plugin_*.so
# The build report goes to a file first: a failing build must fail here
# (a pipeline would hide cargo's exit status and stage nothing).
report=$(mktemp)
trap 'rm -f "$report"' EXIT
"$cargo" build --release --workspace --exclude relay-bench --manifest-path "$root/Cargo.toml" \
    --message-format=json-render-diagnostics --quiet >"$report"
grep '"reason":"compiler-artifact"' "$report" \
| grep "\"manifest_path\":\"$root/plugins/[^\"]*/Cargo.toml\"" \
| grep '"kind":\["cdylib"\]' \
| grep -o '"filenames":\[[^]]*\]' \
| grep -o '[^"]*/libplugin_[A-Za-z0-9_]*\.so' \
| sort -u \
| while read -r so; do
    name=$(basename "$so" .so)
    name=${name#lib}
    cp "$so" "$dir/$name.so"
    echo "$name.so"
done
