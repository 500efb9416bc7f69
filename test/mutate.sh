#!/bin/bash
# The standing mutation check: do the tests turn red when the code breaks?
# Each line of test/mutations.txt puts one small, realistic bug into a scratch
# copy of the tree (never this one), rebuilds only what the listed tests need
# (the checked build: ASan + UBSan, as `make check`), runs only those tests,
# and puts the code back. A mutation is caught when a listed test prints a
# FAIL line or exits non-zero. Prints PASS per caught mutation, FAIL per
# survivor (a missing test, or an equivalent mutation to replace in the list),
# then "mutations: K of N caught" and the survivors.
#
#   test/mutate.sh [LIST]             every mutation in LIST (test/mutations.txt)
#   MUTATE_ONLY=REGEX test/mutate.sh  only the lines matching REGEX
#
# LIST: one mutation a line, fields separated by " @@ ":
#   FILE @@ TEXT @@ REPLACEMENT @@ TESTS @@ WHAT IT BREAKS
# TEXT must occur exactly once in FILE (else the line is stale: FAIL). TESTS
# are test programs (test/dir/test_x, built in the check build) and scripts
# (*.sh, run with the mutated vzkit), separated by spaces. In TEXT and
# REPLACEMENT, \n stands for a newline and \t for a tab.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
list=${1:-$root/test/mutations.txt}
only=${MUTATE_ONLY:-}
build=build/check
check_flags=(WERROR=1 BUILD=$build
	EXTRA_CFLAGS="-O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"
	EXTRA_LDFLAGS="-fsanitize=address,undefined")

scratch=$(mktemp -d /tmp/vzkit-mutate.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
log=$scratch.log
: >"$log"

# The copy: the files git knows (tracked and new), or the source folders.
if git -C "$root" rev-parse --git-dir >/dev/null 2>&1; then
	(cd "$root" && git ls-files -z --cached --others --exclude-standard | xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh |
		tar --null -T - -cf -) | tar -xf - -C "$scratch"
else
	(cd "$root" && tar --exclude=./build --exclude=./vzkit -cf - .) | tar -xf - -C "$scratch"
fi
# The checked build made by `make check` (or check-long) just before, when it
# exists: its objects are reused, only what a mutation touches is rebuilt.
[ -d "$root/$build" ] && (cd "$root" && tar -cf - "$build") | tar -xf - -C "$scratch"
# The test guest is shared (building it again would take minutes).
[ -d "$root/build/test-guest" ] && export VZKIT_TEST_GUEST=$root/build/test-guest
export VZKIT=$scratch/$build/vzkit BUILD_DIR=$scratch/$build

if ! make -C "$scratch" -j2 --no-print-directory "${check_flags[@]}" check-build >>"$log" 2>&1; then
	echo "FAIL mutate: the unmutated copy does not build (see $log)"
	exit 1
fi

# replace FILE TEXT REPLACEMENT: exactly one occurrence, else status 3
replace() {
	python3 - "$@" <<'PY'
import sys
path, text, replacement = sys.argv[1:4]
unescape = lambda s: s.replace("\\n", "\n").replace("\\t", "\t")
text, replacement = unescape(text), unescape(replacement)
source = open(path).read()
if source.count(text) != 1:
    sys.exit(3)
open(path, "w").write(source.replace(text, replacement))
PY
}

total=0 caught=0 survivors=()
number=0
while IFS= read -r line || [ -n "$line" ]; do
	case $line in '' | '#'*) continue ;; esac
	number=$((number + 1))
	[ -n "$only" ] && ! grep -qE -- "$only" <<<"$line" && continue
	file=${line%% @@ *}; rest=${line#* @@ }
	text=${rest%% @@ *}; rest=${rest#* @@ }
	replacement=${rest%% @@ *}; rest=${rest#* @@ }
	tests=${rest%% @@ *}; what=${rest#* @@ }
	name="mutation $number ($file: $what)"
	total=$((total + 1))
	original=$scratch/.original
	cp "$scratch/$file" "$original"
	if ! replace "$scratch/$file" "$text" "$replacement"; then
		echo "FAIL $name: stale: the text to replace is not in $file exactly once"
		survivors+=("$number $file: stale line")
		continue
	fi
	targets=()
	for t in $tests; do
		case $t in
		*.sh) targets+=("$build/vzkit") ;;
		*) targets+=("$build/$t") ;;
		esac
	done
	start=$(date +%s)
	echo "== $name" >>"$log"
	if ! make -C "$scratch" -j2 --no-print-directory "${check_flags[@]}" "${targets[@]}" >>"$log" 2>&1; then
		echo "FAIL $name: the mutated copy does not build (a mutation must compile)"
		survivors+=("$number $file: does not build")
	else
		by=
		for t in $tests; do
			case $t in
			*.sh) out=$(cd "$scratch" && timeout 900 bash "$t" 2>&1) ;;
			*) out=$(cd "$scratch" && timeout 900 "$build/$t" 2>&1) ;;
			esac
			status=$?
			echo "$out" >>"$log"
			if [ "$status" -ne 0 ] || grep -aq '^FAIL ' <<<"$out"; then
				by="$t: $(grep -a -m1 '^FAIL ' <<<"$out" | cut -c1-160)"
				[ "$by" = "$t: " ] && by="$t: exit status $status"
				break
			fi
		done
		if [ -n "$by" ]; then
			caught=$((caught + 1))
			echo "PASS $name caught by $by ($(($(date +%s) - start))s)"
		else
			echo "FAIL $name: survived $tests ($(($(date +%s) - start))s)"
			survivors+=("$number $file: $what")
		fi
	fi
	# Back to the original, with a new mtime so make rebuilds what was mutated.
	cat "$original" >"$scratch/$file"
	touch "$scratch/$file"
done <"$list"

echo "mutations: $caught of $total caught"
if [ "${#survivors[@]}" -gt 0 ]; then
	echo "survivors:"
	printf '  %s\n' "${survivors[@]}"
fi
if [ "$caught" -eq "$total" ]; then
	rm -f "$log"
else
	echo "(build and test output: $log)"
fi
[ "$caught" -eq "$total" ]
