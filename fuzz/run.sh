#!/bin/bash
# Runs one libFuzzer target for $FUZZ_SECONDS (default 60) and prints one TAP case.
# Usage: run.sh NAME EXE MAX_LEN DICT|- WORKDIR SEED_DIR...
# New inputs go to WORKDIR/corpus-NAME (the seed directories are only read); a crash, leak,
# timeout, out-of-memory or sanitizer report fails the case and names the reproducer.
set -u
name=$1 exe=$2 max_len=$3 dict=$4 work=$5
shift 5
secs=${FUZZ_SECONDS:-60}

echo "1..1"
corpus=$work/corpus-$name
artifacts=$work/artifacts-$name
log=$work/$name.log
rm -rf "$artifacts"
mkdir -p "$corpus" "$artifacts"
seeds=()
for d in "$@"; do
        [ -d "$d" ] && seeds+=("$d")
done
opts=(-max_len="$max_len" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048
      -malloc_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$artifacts/")
[ "$dict" != - ] && opts+=(-dict="$dict")

# the hard bound: libFuzzer stops itself after $secs; this only catches a hang in it
timeout -k 10 $((secs + 120)) "$exe" "${opts[@]}" "$corpus" "${seeds[@]}" >"$log" 2>&1
rc=$?
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n1)
units=$(find "$corpus" -type f | wc -l)
found=$(find "$artifacts" -type f | sort)

if [ $rc -eq 0 ] && [ -z "$found" ]; then
        echo "ok 1 - fuzz $name: ${execs:-?} executions in ${secs}s, ${cov:-cov: ?}, corpus $units"
        exit 0
fi
echo "not ok 1 - fuzz $name: exit status $rc after ${execs:-?} executions"
grep -E 'ERROR|SUMMARY|runtime error|Test unit written|==[0-9]+==' "$log" | head -n 40 | sed 's/^/# /'
for f in $found; do
        echo "# reproducer: $f (run: $exe $f)"
done
echo "# full log: $log"
exit 1
