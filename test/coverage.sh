#!/bin/bash
# The coverage report of `make coverage`: reads the .gcda files the tests left
# in BUILD (a gcc --coverage build; the Apple engine's objects, built by clang,
# through llvm-cov's gcov), prints lines and branches per folder and for the
# files doc/design.md names as the ones that matter most, and writes an HTML
# report to BUILD/html/index.html.
#   test/coverage.sh BUILD
set -u
build=${1:?usage: test/coverage.sh BUILD}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 1
out=$build/coverage
mkdir -p "$out" "$build/html"
filters=(--filter 'cmd/' --filter 'flags/' --filter 'devices/' --filter 'bootloader/' --filter 'vz/')
tracefiles=()

# gcc's objects, everything but the Apple engine's
gcovr --root . "${filters[@]}" --exclude-directories "$build/test/apple" --exclude-unreachable-branches \
	--json "$out/gcc.json" "$build" || exit 1
tracefiles+=(-a "$out/gcc.json")
# clang's objects (test/apple builds vz/apple/ with clang -fblocks)
llvm_cov=$(command -v llvm-cov-14 || command -v llvm-cov || true)
if [ -d "$build/test/apple/obj" ] && [ -n "$llvm_cov" ]; then
	gcovr --root . "${filters[@]}" --gcov-executable "$llvm_cov gcov" --exclude-unreachable-branches \
		--json "$out/apple.json" "$build/test/apple/obj" && tracefiles+=(-a "$out/apple.json")
fi
gcovr --root . "${tracefiles[@]}" --json-summary "$out/summary.json" --html-details "$build/html/index.html" || exit 1

python3 - "$out/summary.json" <<'PY'
import json, os, sys

files = json.load(open(sys.argv[1]))["files"]
folders = {}
for f in files:
    folder = os.path.dirname(f["filename"]) + "/"
    totals = folders.setdefault(folder, [0, 0, 0, 0])
    for i, key in enumerate(("line_covered", "line_total", "branch_covered", "branch_total")):
        totals[i] += f[key]

def pct(covered, total):
    return "%5.1f %%" % (100.0 * covered / total) if total else "    - "

print("%-24s %18s %20s" % ("folder", "lines", "branches"))
for folder in sorted(folders):
    lc, lt, bc, bt = folders[folder]
    print("%-24s %s %6d/%-6d %s %6d/%-6d" % (folder, pct(lc, lt), lc, lt, pct(bc, bt), bc, bt))
everything = [sum(t[i] for t in folders.values()) for i in range(4)]
print("%-24s %s %6d/%-6d %s %6d/%-6d" % ("all", pct(everything[0], everything[1]), everything[0], everything[1],
                                         pct(everything[2], everything[3]), everything[2], everything[3]))
# The targets of issue 15: the parsers and rules, and the runtime parts.
targets = [("vz/validate.c", 90), ("vz/qemu/plan.c", 90), ("vz/qemu/engine.c", 80), ("cmd/services/rest.c", 80),
           ("cmd/services/vsock_proxy.c", 80), ("cmd/services/ignition.c", 80), ("cmd/services/timesync.c", 80),
           ("cmd/services/unix_socket.c", 80), ("cmd/lifecycle.c", 80)]
by_name = {f["filename"]: f for f in files}
print("files with a target (lines):")
for name, target in targets:
    f = by_name.get(name)
    if f is None:
        print("  %-28s not built" % name)
        continue
    print("  %-28s %s (target %d %%)  branches %s" % (name, pct(f["line_covered"], f["line_total"]), target,
                                                   pct(f["branch_covered"], f["branch_total"])))
PY
echo "HTML report: $build/html/index.html"
