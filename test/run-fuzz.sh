#!/bin/sh
# Runs each libFuzzer target for FUZZ_SECONDS with its seed corpus (a corpus/
# folder beside its source, when there is one). Fails on the first crash.
set -u
build=$1; shift
seconds=${FUZZ_SECONDS:-30}
status=0
for target in "$@"; do
	name=$(basename "$target")
	corpus=build/fuzz-corpus/$name
	seeds=$(dirname "$target")/corpus/$name
	mkdir -p "$corpus"
	[ -d "$seeds" ] || seeds=
	log=build/fuzz-corpus/$name.log
	"$build/$target" -max_total_time="$seconds" -print_final_stats=1 $corpus $seeds > "$log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	if [ "$rc" -ne 0 ]; then
		echo "$name: CRASH after ${runs:-?} runs (see $log)"
		grep -E 'ERROR|SUMMARY' "$log" | head -5
		status=1
	else
		echo "$name: ${runs:-?} runs in ${seconds} s, no crash"
	fi
done
exit $status
