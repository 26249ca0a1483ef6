#!/bin/sh
# Record one command's real output on a test VM for the storage modules' table
# tests: `record.sh NAME 'COMMAND'` runs COMMAND on the VM (through $SSH, a
# command that takes the remote command line as its arguments) and writes
# NAME.txt here: "rc N", the stdout, then "--- stderr" and the stderr.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
name=$1
cmd=$2
out=$(mktemp) err=$(mktemp)
set +e
$SSH "$cmd" >"$out" 2>"$err"
rc=$?
set -e
{
    echo "rc $rc"
    cat "$out"
    echo "--- stderr"
    cat "$err"
} >"$here/$name.txt"
rm -f "$out" "$err"
echo "recorded $name (rc $rc)"
