#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Install the Debian packages npshim builds and tests with.
#   scripts/deps.sh               install whatever is missing
#   scripts/deps.sh --if-missing  the same, silent when nothing is missing
set -u
quiet=0
[ "${1:-}" = "--if-missing" ] && quiet=1

# pkg-config module -> Debian package
libs=(
	"libnetfilter_queue libnetfilter-queue-dev"
	"libmnl libmnl-dev"
	"libnfnetlink libnfnetlink-dev"
	"libcurl libcurl4-openssl-dev"
	"libcjson libcjson-dev"
	"yaml-0.1 libyaml-dev"
	"sqlite3 libsqlite3-dev"
	"libsystemd libsystemd-dev"
	"libmicrohttpd libmicrohttpd-dev"
)
# command -> Debian package (tests and tools)
cmds=(
	"pkg-config pkg-config"
	"cc gcc"
	"make make"
	"clang clang"
	"ip iproute2"
	"iptables iptables"
	"conntrack conntrack"
	"sqlite3 sqlite3"
	"openssl openssl"
	"python3 python3"
	"jq jq"
	"systemd-analyze systemd"
	"curl curl"
	"groff groff-base"
)
missing=()
for entry in "${libs[@]}"; do
	set -- $entry
	command -v pkg-config >/dev/null 2>&1 && pkg-config --exists "$1" 2>/dev/null || missing+=("$2")
done
for entry in "${cmds[@]}"; do
	set -- $entry
	command -v "$1" >/dev/null 2>&1 || missing+=("$2")
done
# libFuzzer's runtime ships separately from clang on Debian 12.
if ! ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
	missing+=("libclang-rt-14-dev")
fi

if [ ${#missing[@]} -eq 0 ]; then
	[ $quiet -eq 1 ] || echo "deps: every package is installed"
	exit 0
fi
echo "deps: installing missing Debian packages: ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
	echo "deps: not root; run as root: apt-get install ${missing[*]}" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq || { echo "deps: apt-get update failed" >&2; exit 1; }
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
	{ echo "deps: apt-get install failed for: ${missing[*]}" >&2; exit 1; }
echo "deps: installed ${missing[*]}"
