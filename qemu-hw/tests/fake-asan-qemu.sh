#!/usr/bin/env bash
# Negative control for the device fuzzer: runs the real QEMU
# ($WCTB_REAL_QEMU) after printing what AddressSanitizer prints when it
# finds a bug.  fuzz-wc-testdev.py must fail against it.
set -euo pipefail

case "${1:-}" in
-h | --help)
	echo "Usage: WCTB_REAL_QEMU=BIN $0 QEMU-ARGS...  (a QEMU that reports a fake ASan error)"
	exit 0
	;;
esac
[[ -x ${WCTB_REAL_QEMU:-} ]] || {
	echo "fake-asan-qemu: set WCTB_REAL_QEMU to a qemu-system-x86_64" >&2
	exit 2
}
echo "==1==ERROR: AddressSanitizer: heap-use-after-free (injected by the negative control)" >&2
exec "$WCTB_REAL_QEMU" "$@"
