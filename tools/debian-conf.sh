#!/bin/sh
# Turns the sample etc/siproxd.conf (stdin) into the /etc/siproxd.conf of
# the Debian package (stdout).  Only these lines change; everything else,
# comments included, stays as in the sample:
#   #user = nobody                 -> user = siproxd   (made by postinst)
#   #registration_file = ...       -> registration_file = /var/lib/siproxd/siproxd_registrations
#   autosave_registrations = 0     -> autosave_registrations = 300
#   #plugindir = /usr/local/lib/siproxd/ -> plugindir = /usr/lib/siproxd/
# The interfaces stay "lo": the admin names the LAN and WAN interfaces.
set -eu
sed -e 's|^#user = nobody$|user = siproxd|' \
    -e 's|^#registration_file = /var/lib/siproxd/siproxd_registrations$|registration_file = /var/lib/siproxd/siproxd_registrations|' \
    -e 's|^autosave_registrations = 0$|autosave_registrations = 300|' \
    -e 's|^#plugindir = /usr/local/lib/siproxd/$|plugindir = /usr/lib/siproxd/|'
