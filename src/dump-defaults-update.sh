#!/bin/bash
# Regenerate src/dump-defaults.inc from the installed doveconf (Debian dovecot-core 2.3.19.1,
# with dovecot-managesieved and dovecot-sieve installed, as for src/known-settings.inc):
# the default of every global setting, in the form doveconf -a prints it. dovesd-generator -n
# prints a global only when its value, printed the same way, differs from this default.
# Usage: src/dump-defaults-update.sh > src/dump-defaults.inc
set -euo pipefail

echo '/* SPDX-License-Identifier: MIT */'
echo '/* The default of every global setting Dovecot 2.3.19.1 knows, as `doveconf -a` prints it'
echo ' * (with Pigeonhole'"'"'s settings modules installed). Written by src/dump-defaults-update.sh;'
echo ' * sorted by key. */'
doveconf -c /dev/null -a 2>/dev/null | LC_ALL=C awk '
/^[a-z_0-9]+ = / {
        key = $0; sub(/ = .*/, "", key)
        val = $0; sub(/^[a-z_0-9]+ = /, "", val)
        gsub(/\\/, "\\\\", val); gsub(/"/, "\\\"", val)
        printf "{ \"%s\", \"%s\" },\n", key, val
}' | LC_ALL=C sort
