#!/bin/bash
# The tree's design, checked from its sources (doc/design.md, "Where things
# live"): the include graph between folders has no cycle, the VZ model and
# the engines never include the front end, and no folder below cmd/ writes to
# stdout or stderr itself (lines travel up as error values or through
# engine_options.log). Prints PASS/FAIL lines.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)

# The checks must be able to fail: run them on a copy of the tree with one
# fault of each kind put in, and expect each to be caught.
if [ $# -eq 0 ]; then
	copy=$(mktemp -d /tmp/vzkit-layout.XXXXXX)
	trap 'rm -rf "$copy"' EXIT
	(cd "$root" && tar cf - cmd flags devices bootloader vz doc README.md test/layout) | tar xf - -C "$copy"
	sed -i '1i #include "devices/registry.h"' "$copy/bootloader/linux.c"    # bootloader -> devices
	sed -i '1i #include "bootloader/registry.h"' "$copy/devices/nbd.c"     # ... and back: a cycle
	sed -i '1i #include "cmd/log/log.h"' "$copy/vz/qemu/host.c"             # an engine includes the front end
	printf 'static void shout(void) { fputs("x", stderr); }\n' >>"$copy/flags/shell.c"
	printf '/* see NOTES%s */\n' .md >>"$copy/vz/vz.c"
	caught=$(bash "$0" "$copy" 2>&1 | grep -cE '^FAIL (no include cycle|.*no include points up|.*never write to stdout|nothing cites)')
	if [ "$caught" -ge 4 ]; then
		echo "PASS layout checks catch a cycle, an upward include, printing and an outside citation in a faulty copy"
	else
		echo "FAIL layout checks catch faults: only $caught of 4 kinds caught in a faulty copy"
	fi
fi
exec python3 - "$root" "$@" <<'PY'
import os, re, sys

root = sys.argv[1]
# With a second argument: check that tree instead (the test's own self-check).
tree = sys.argv[2] if len(sys.argv) > 2 else root
SOURCE_DIRS = ("cmd", "flags", "devices", "bootloader", "vz")
failures = 0

def report(ok, name, why=""):
    global failures
    print(("PASS %s" % name) if ok else ("FAIL %s: %s" % (name, why)))
    failures += 0 if ok else 1

def strip_comments_and_strings(text):
    text = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r"'(\\.|[^'\\])'", "''", text)
    return re.sub(r'"(\\.|[^"\\\n])*"', '""', text)

sources = []
for top in SOURCE_DIRS:
    for dirpath, _, files in os.walk(os.path.join(tree, top)):
        for f in files:
            if f.endswith((".c", ".h")):
                sources.append(os.path.relpath(os.path.join(dirpath, f), tree))
sources.sort()
report(len(sources) > 50, "the tree has its sources", "found %d" % len(sources))

# folder -> {folder it includes: [file: include]}
edges = {}
missing = []
for path in sources:
    folder = os.path.dirname(path)
    with open(os.path.join(tree, path), encoding="utf-8", errors="replace") as f:
        for line in f:
            m = re.match(r'\s*#\s*include\s+"([^"]+)"', line)
            if not m:
                continue
            target = m.group(1)
            if not os.path.exists(os.path.join(tree, target)):
                missing.append("%s: %s" % (path, target))
                continue
            to = os.path.dirname(target)
            if to != folder:
                edges.setdefault(folder, {}).setdefault(to, []).append("%s includes %s" % (path, target))
report(not missing, "every quoted include names a file of the tree (from the top)", "; ".join(missing[:5]))

# Cycles: Tarjan's strongly connected components over folders.
index, low, stack, on_stack, components = {}, {}, [], set(), []
def visit(v, counter=[0]):
    index[v] = low[v] = counter[0]; counter[0] += 1
    stack.append(v); on_stack.add(v)
    for w in edges.get(v, {}):
        if w not in index:
            visit(w); low[v] = min(low[v], low[w])
        elif w in on_stack:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        component = []
        while True:
            w = stack.pop(); on_stack.discard(w); component.append(w)
            if w == v:
                break
        components.append(component)
for v in sorted(set(edges) | {w for ws in edges.values() for w in ws}):
    if v not in index:
        visit(v)
cycles = [sorted(c) for c in components if len(c) > 1]
why = []
for c in cycles:
    for a in c:
        for b in c:
            if b in edges.get(a, {}):
                why.append(edges[a][b][0])
report(not cycles, "no include cycle between folders", "cycle %s: %s" % (cycles, "; ".join(why[:6])))

# Direction: each folder may include only these (and itself). Top to bottom:
# cmd/... > vz/qemu, vz/apple > devices, bootloader > vz > flags.
allowed = {
    "flags": set(),
    "vz": {"flags"},
    "devices": {"flags", "vz"},
    "bootloader": {"flags", "vz"},
    "vz/qemu": {"flags", "vz"},
    "vz/apple": {"flags", "vz"},
}
wrong = []
for folder, targets in sorted(edges.items()):
    if folder in allowed:
        for to, why_list in sorted(targets.items()):
            if to not in allowed[folder]:
                wrong.append(why_list[0])
report(not wrong, "flags/ < vz/ < devices/, bootloader/ < engines < cmd/: no include points up", "; ".join(wrong[:6]))

# No printing below cmd/.
PRINTING = re.compile(r"\b(stdout|stderr)\b|\b(v?printf|puts|perror|putchar|dprintf)\s*\("
                      r"|\bwrite\s*\(\s*(STDOUT_FILENO|STDERR_FILENO|1|2)\s*,")
printers = []
for path in sources:
    if path.split(os.sep)[0] == "cmd":
        continue
    with open(os.path.join(tree, path), encoding="utf-8", errors="replace") as f:
        code = strip_comments_and_strings(f.read())
    for n, line in enumerate(code.split("\n"), 1):
        if PRINTING.search(line):
            printers.append("%s:%d: %s" % (path, n, line.strip()))
report(not printers, "vz/, devices/, bootloader/, flags/ never write to stdout or stderr", "; ".join(printers[:6]))

# No comment or doc cites a file outside the repository.
outside = []
for top in SOURCE_DIRS + ("test", "doc"):
    for dirpath, _, files in os.walk(os.path.join(tree, top)):
        for f in files:
            path = os.path.join(dirpath, f)
            if os.path.relpath(path, tree) == os.path.join("test", "layout", "test_layout.sh"):
                continue
            if not f.endswith((".c", ".h", ".sh", ".mk", ".md", ".1", ".def", ".py")):
                continue
            with open(path, encoding="utf-8", errors="replace") as fh:
                for n, line in enumerate(fh, 1):
                    if re.search(r"NOTES\.md|SPEC\.md|\.\./shared", line):
                        outside.append("%s:%d" % (os.path.relpath(path, tree), n))
report(not outside, "nothing cites documents outside the repository (cite doc/)", ", ".join(outside[:8]))

# The README's layout table and doc/design.md name folders that exist.
for doc in ("README.md", "doc/design.md"):
    p = os.path.join(tree, doc)
    if not os.path.exists(p):
        report(False, "%s exists" % doc, "missing")
        continue
    text = open(p, encoding="utf-8").read()
    named = set(re.findall(r"`((?:cmd|flags|devices|bootloader|vz|test|doc)(?:/[A-Za-z0-9_.-]+)*/?)`", text))
    gone = sorted(n for n in named if not os.path.exists(os.path.join(tree, n.rstrip("/"))))
    report(not gone, "%s names only paths that exist" % doc, ", ".join(gone))
    folders = sorted({os.path.dirname(s) for s in sources})
    unnamed = [f for f in folders if "`%s/`" % f not in text and "`%s`" % f not in text]
    report(not unnamed, "%s names every source folder" % doc, ", ".join(unnamed))

sys.exit(1 if failures else 0)
PY
