#!/bin/bash
# Parse-time benchmark: a generated config of 1,000 services x 3 listeners, checked by
# dovesd-generator --check and by doveconf -n in the same run, several repetitions each,
# alternating; prints the median of each and the ratio dovesd/doveconf (goal: <= 0.5).
# Usage: bench/parse.sh [BUILD_DIR] [REPETITIONS]
set -euo pipefail
build=${1:-build}
reps=${2:-11}
gen=$build/generator/dovesd-generator
[ -x "$gen" ] || { echo "no $gen: build first (meson setup build && ninja -C build)" >&2; exit 1; }
command -v doveconf >/dev/null || { echo "doveconf not found (apt-get install dovecot-core)" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
conf=$tmp/bench.conf
{
        for i in $(seq 1 1000); do
                cat <<CONF
service svc$i {
  executable = svc$i -f
  user = \$default_internal_user
  client_limit = 10
  process_limit = 20
  idle_kill = 2 mins
  vsz_limit = 512 M
  unix_listener svc$i {
    mode = 0660
    group = \$default_internal_group
  }
  fifo_listener svc$i-fifo {
    mode = 0600
  }
  inet_listener svc$i {
    port = $((10000 + i))
    address = 127.0.0.1
  }
}
CONF
        done
} > "$conf"

"$gen" -c "$conf" --check >/dev/null || { echo "dovesd-generator rejects the config" >&2; exit 1; }
doveconf -c "$conf" -n >/dev/null || { echo "doveconf rejects the config" >&2; exit 1; }

now() { date +%s%N; }
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
: > "$tmp/d"; : > "$tmp/c"
for _ in $(seq 1 "$reps"); do
        t0=$(now); "$gen" -c "$conf" --check >/dev/null; t1=$(now)
        echo $(( (t1 - t0) / 1000 )) >> "$tmp/d"
        t0=$(now); doveconf -c "$conf" -n >/dev/null; t1=$(now)
        echo $(( (t1 - t0) / 1000 )) >> "$tmp/c"
done
d=$(median < "$tmp/d")
c=$(median < "$tmp/c")
echo "config: 1000 services x 3 listeners, $(wc -l < "$conf") lines; median of $reps runs each"
awk -v d="$d" -v c="$c" 'BEGIN {
        printf "dovesd-generator --check: %8.2f ms\n", d / 1000
        printf "doveconf -n:              %8.2f ms\n", c / 1000
        printf "ratio dovesd/doveconf:    %8.3f (goal <= 0.5)\n", d / c
}'
