#!/bin/sh
# Installs the Debian packages listed in $1 that are missing (lines "ARCH: pkg"
# apply to that dpkg architecture only; "pkg unless CMD" is wanted only when no
# command CMD is on PATH, e.g. npm that came with another Node.js package). Needs root and apt-get; elsewhere it
# only reports what is missing.
set -u
list=${1:-debian-packages.txt}
command -v dpkg-query >/dev/null 2>&1 || { echo "install-deps: not a Debian system; install the packages in $list by hand" >&2; exit 0; }
arch=$(dpkg --print-architecture)
wanted=$(sed -e 's/#.*//' "$list" | while read -r a b c; do
	[ -z "$a" ] && continue
	if [ "$b" = unless ]; then
		command -v "$c" >/dev/null 2>&1 || echo "$a"
		continue
	fi
	case $a in
	*:) [ "${a%:}" = "$arch" ] && echo "$b" ;;
	*) echo "$a" ;;
	esac
done)
missing=
for p in $wanted; do
	status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)
	[ "$status" = installed ] || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "install-deps: missing Debian packages:$missing (run as root, or install them)" >&2
	exit 1
fi
echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq && apt-get install -y -qq --no-install-recommends $missing >/dev/null
