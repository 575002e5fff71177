#!/usr/bin/env bash
# Prove that run-vm.sh notices guest faults: a failing test, a kernel
# panic and a hung guest must each end the run non-zero with a clear message.
set -euo pipefail

readonly REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=$REPO/build
ALWAYS_FAIL=
FAILURES=0

usage() {
	cat <<USAGE
Usage: $0 --always-fail BIN [--build-dir DIR] [--help]

Runs run-vm.sh three times with an injected fault and checks the exit
status and the message of each:
  failing test   --extra-test BIN (a test that always fails)  exit 1
  kernel panic   --append wctb.inject=panic                   exit 2
  hung guest     --append wctb.inject=hang --timeout 30       exit 2
Prints TAP; exits non-zero if the harness missed any fault.
USAGE
}

die() { printf 'check-harness-faults: error: %s\n' "$*" >&2; exit 2; }

# expect NAME STATUS REGEX -- run-vm.sh ARGS...
expect() {
	local name=$1 want=$2 regex=$3 out status=0
	shift 4
	out=$("$REPO/run-vm.sh" --build-dir "$BUILD_DIR" "$@" 2>&1) || status=$?
	if ((status == want)) && grep -qE "$regex" <<<"$out"; then
		echo "ok - $name (exit $status)"
		return
	fi
	FAILURES=$((FAILURES + 1))
	echo "not ok - $name: wanted exit $want and /$regex/, got exit $status"
	sed 's/^/# /' <<<"$out"
}

main() {
	while (($#)); do
		case "$1" in
		--always-fail) ALWAYS_FAIL=${2:?}; shift ;;
		--build-dir) BUILD_DIR=${2:?}; shift ;;
		-h | --help) usage; exit 0 ;;
		*) usage >&2; die "unknown option '$1'" ;;
		esac
		shift
	done
	[[ -x $ALWAYS_FAIL ]] || die "--always-fail must name the built always-fail program"

	echo "1..3"
	expect "a failing guest test fails the run" 1 'FAIL: passed=0 failed=1' -- \
		--extra-test "$ALWAYS_FAIL" --filter 'extra-*'
	expect "a guest kernel panic fails the run" 2 'guest kernel panicked' -- \
		--append wctb.inject=panic --timeout 120
	expect "a hung guest fails the run within the timeout" 2 'guest hung' -- \
		--append wctb.inject=hang --timeout 30
	((FAILURES == 0))
}

main "$@"
