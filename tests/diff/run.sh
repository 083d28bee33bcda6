#!/bin/sh
# Differential test of the config dialect against doveconf; prints TAP.
# Usage: tests/diff/run.sh PATH/TO/dovesd-generator [CASE...]
#        tests/diff/run.sh --doveconf-only [CASE...]
exec python3 "$(dirname "$0")/run.py" "$@"
