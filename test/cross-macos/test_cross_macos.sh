#!/bin/bash
# make cross-macos (and make check): every source of the macOS build compiled
# for arm64 and x86_64 macOS on this Linux machine, warnings as errors, then
# linked against macOS 11's libSystem (the zig package's stubs). What the SDK
# piece lacks is stood in for (test/cross-macos/README.md): a few Objective-C
# runtime, CoreFoundation and <util.h> declarations (test/cross-macos/include),
# the headers of jansson, libmicrohttpd, libisofs and libcurl copied from this
# machine, and, for the link, .tbd stubs of those libraries, libobjc and
# CoreFoundation that export exactly the symbols the link asks for — after
# checking that each of them belongs to one of those libraries by its prefix.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root" || exit 1
out=build/cross-macos
zig_dir=$out/zig
shims=$root/test/cross-macos/include
headers=$root/$out/include
failed=0

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; failed=1; }
skip() { echo "SKIP $1: $2"; }

started=$(date +%s.%N)
why=$(sh test/cross-macos/install-zig.sh "$zig_dir")
case $? in
0) ;;
3) skip "cross-macos" "$why"; exit 0 ;;
*) fail "cross-macos: install zig" "$why"; exit 1 ;;
esac
zig=$root/$zig_dir/zig
export ZIG_GLOBAL_CACHE_DIR=$root/$out/zig-cache ZIG_LOCAL_CACHE_DIR=$root/$out/zig-cache
# A make check or make cross-macos above us must not hand its variables down.
unset MAKEFLAGS MFLAGS MAKELEVEL

# Third-party headers: this machine's (Debian's) copies, the same API as on macOS.
multiarch=$(cc -print-multiarch 2>/dev/null)
mkdir -p "$headers"
for h in jansson.h jansson_config.h microhttpd.h libisofs curl; do
	src=
	for d in "/usr/include/$multiarch" /usr/include; do
		[ -e "$d/$h" ] && { src=$d/$h; break; }
	done
	if [ -z "$src" ]; then
		fail "cross-macos: headers" "$h is not installed (make deps installs it)"
		exit 1
	fi
	[ "$src" -nt "$headers/$h" ] || [ ! -e "$headers/$h" ] && rm -rf "${headers:?}/$h" && cp -r "$src" "$headers/$h"
done

# The macOS build's sources, from the module.mk files themselves.
srcs=$(make -s --no-print-directory HOST_OS=Darwin print-srcs)
if [[ " $srcs " != *" vz/apple/queue_dispatch.c "* || " $srcs " != *" cmd/main.c "* || " $srcs " == *" vz/qemu/"* ]]; then
	fail "cross-macos: source list" "HOST_OS=Darwin does not select the Apple engine's sources: $srcs"
	exit 1
fi
nsrcs=$(wc -w <<<"$srcs")

# owner SYMBOL: the library a symbol the link could not find belongs to.
owner() {
	case $1 in
	_objc_* | _class_* | _sel_* | _object_* | _ivar_* | _protocol_* | _method_*) echo libobjc ;;
	_CF* | _kCF*) echo CoreFoundation ;;
	_json_* | _jansson_*) echo libjansson ;;
	_MHD_*) echo libmicrohttpd ;;
	_iso_* | _el_torito_*) echo libisofs ;;
	_curl_*) echo libcurl ;;
	*) echo none ;;
	esac
}

for arch in arm64 x86_64; do
	case $arch in
	arm64) triple=aarch64-macos.11.0 magic=cffaedfe0c000001 ;;
	x86_64) triple=x86_64-macos.11.0 magic=cffaedfe07000001 ;;
	esac
	build=$out/$arch
	log=$build.log
	mkdir -p "$build"
	if make -j2 --no-print-directory HOST_OS=Darwin CC="$zig cc -target $triple" AR="$zig ar" PKG_CONFIG=false \
		BUILD="$build" WERROR=1 EXTRA_CFLAGS="-isystem $shims -isystem $headers" CFLAGS= \
		"$build/libvzkit.a" "$build/cmd/main.o" > "$log" 2>&1; then
		pass "cross-macos $arch: all $nsrcs sources of the macOS build compile (zig cc -target $triple, -Wall -Wextra -Werror)"
	else
		fail "cross-macos $arch: compile" "$(grep -E 'error:' "$log" | head -n 5 | tr '\n' ' ') (see $log)"
		continue
	fi
	# Link once without the stand-ins to learn what libSystem does not provide.
	"$zig" cc -target "$triple" -o "$build/vzkit" "$build/cmd/main.o" "$build/libvzkit.a" > "$build.link.log" 2>&1
	missing=$(sed -n "s/^error(link): undefined reference to symbol '\(.*\)'$/\1/p" "$build.link.log" | sort -u)
	stray=
	declare -A by_lib=()
	for sym in $missing; do
		lib=$(owner "$sym")
		if [ "$lib" = none ]; then
			stray="$stray $sym"
		else
			by_lib[$lib]="${by_lib[$lib]:+${by_lib[$lib]}, }'$sym'"
		fi
	done
	if [ -n "$stray" ]; then
		fail "cross-macos $arch: link" "defined nowhere in the macOS build nor in libSystem:$stray"
		unset by_lib
		continue
	fi
	rm -rf "$build/stubs"
	mkdir -p "$build/stubs"
	summary=
	for lib in "${!by_lib[@]}"; do
		count=$(tr ',' '\n' <<<"${by_lib[$lib]}" | grep -c .)
		summary="$summary $lib $count,"
		cat > "$build/stubs/$lib.tbd" <<EOF
--- !tapi-tbd
tbd-version:     4
targets:         [ x86_64-macos, arm64-macos ]
install-name:    '/stand-in/$lib.dylib'
exports:
  - targets:         [ x86_64-macos, arm64-macos ]
    symbols:         [ ${by_lib[$lib]} ]
...
EOF
	done
	unset by_lib
	if "$zig" cc -target "$triple" -o "$build/vzkit" "$build/cmd/main.o" "$build/libvzkit.a" "$build"/stubs/*.tbd \
		> "$build.link.log" 2>&1 && [ "$(od -An -tx1 -N8 "$build/vzkit" | tr -d ' \n')" = "$magic" ]; then
		pass "cross-macos $arch: links into a Mach-O $arch executable against macOS 11's libSystem; left to stand-ins:${summary%,} symbols"
	else
		fail "cross-macos $arch: link" "$(head -n 5 "$build.link.log" | tr '\n' ' ')"
	fi
done
echo "# make cross-macos took $(awk "BEGIN { printf \"%.1f\", $(date +%s.%N) - $started }") s"
exit $failed
