#!/bin/sh
# Installs the plugin cdylibs cargo built (target/<profile>/libplugin_<name>.so)
# into a plugindir as plugin_<name>.so, the names siproxd.conf's
# `load_plugin = plugin_<name>.la` (or .so) lines look for.
#
#   cargo build --release -p plugin_logcall -p plugin_stun ...   (or --workspace)
#   tools/install-plugins.sh /usr/lib/siproxd/
#
# Options: -t TARGET_DIR (default: target), -p PROFILE (default: release).
# Each file is copied next to its destination and renamed over it, so a
# running siproxd keeps its mapped copy intact.
set -eu

usage() {
    echo "usage: $0 [-t TARGET_DIR] [-p PROFILE] PLUGINDIR" >&2
    exit 2
}

target=target
profile=release
while getopts t:p: opt; do
    case $opt in
    t) target=$OPTARG ;;
    p) profile=$OPTARG ;;
    *) usage ;;
    esac
done
shift $((OPTIND - 1))
[ $# -eq 1 ] || usage
plugindir=$1

mkdir -p "$plugindir"
count=0
for lib in "$target/$profile"/libplugin_*.so; do
    [ -f "$lib" ] || continue
    file=$(basename "$lib")
    name=${file#lib}
    cp "$lib" "$plugindir/.$name.tmp"
    chmod 0755 "$plugindir/.$name.tmp"
    mv -f "$plugindir/.$name.tmp" "$plugindir/$name"
    echo "installed $plugindir/$name"
    count=$((count + 1))
done
if [ "$count" -eq 0 ]; then
    echo "$0: no libplugin_*.so in $target/$profile (build the plugins first)" >&2
    exit 1
fi
