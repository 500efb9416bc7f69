#!/bin/sh
# Runs every test program and script given, counts their PASS/FAIL/SKIP lines
# and ends with one summary line: "N passed, N failed[, N skipped]".
# A test that exits non-zero without printing a FAIL line counts as one failure.
set -u
passed=0 failed=0 skipped=0
logdir=${TEST_LOG_DIR:-$(mktemp -d /tmp/vzkit-tests.XXXXXX)}
mkdir -p "$logdir"
skip_reasons="$logdir/skip-reasons"
: > "$skip_reasons"
for t in "$@"; do
	name=$(echo "$t" | sed 's|^.*/test/||; s|^test/||; s|/|-|g')
	out="$logdir/$name.log"
	start=$(date +%s)
	case $t in
	*.sh) bash "$t" > "$out" 2>&1 ;;
	*) "$t" > "$out" 2>&1 ;;
	esac
	status=$?
	p=$(grep -c '^PASS ' "$out")
	f=$(grep -c '^FAIL ' "$out")
	s=$(grep -c '^SKIP ' "$out")
	if [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1
		echo "FAIL $name: exited with status $status" >> "$out"
	fi
	passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
	grep '^SKIP ' "$out" >> "$skip_reasons"
	printf '%-40s %3d passed %3d failed %3d skipped  (%ds)\n' "$name" "$p" "$f" "$s" $(( $(date +%s) - start ))
	if [ "$f" -gt 0 ]; then
		grep '^FAIL ' "$out" | sed 's/^/    /'
		echo "    --- last lines of $out:"
		tail -n 25 "$out" | sed 's/^/    | /'
	fi
done
if [ -s "$skip_reasons" ]; then
	echo "skipped:"
	sed 's/^SKIP /  /' "$skip_reasons"
fi
if [ "$skipped" -gt 0 ]; then
	echo "$passed passed, $failed failed, $skipped skipped"
else
	echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
