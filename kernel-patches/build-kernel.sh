#!/usr/bin/env bash
# Build the guest kernel for wc-testbed: Debian's Linux 7.3 (or 6.12) source
# plus a patch series, or a user's own tree; tinyconfig + our fragment.
# Prints the artifact directory (bzImage, headers/, selftests/) on stdout.
set -euo pipefail

readonly HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=kernel-patches/kernel-tree.sh
source "$HERE/kernel-tree.sh"
SERIES=patched
LINUX_SRC=
HEADERS_ONLY=0
SELFTESTS_ONLY=0
DEBUG=0
JOBS=$(nproc)

usage() {
	cat <<USAGE
Usage: $0 [options]

Build bzImage and the uAPI headers for the wc-testbed guest.  Results are
cached under \$WCTB_CACHE/kernel, keyed by a hash of every input; a second
run with the same inputs builds nothing.  The artifact directory is printed
on stdout: bzImage, config, headers/usr/include, selftests/.

  --series NAME      patched (kernel-patches/series, default),
                     naive (kernel-patches/controls/naive-wc/series),
                     none (the stock kernel of the base), or a
                     comparison series of kernel-patches/alternatives/
                     (dmabuf-memattr, bar-wc-flag: its folder's name)
  --base VERSION     the kernel source: 7.3 (default; Debian's
                     linux-source-7.3 from trixie-backports, fetched once
                     into the cache) or 6.12 (linux-source-6.12, series
                     none only); see kernel-patches/bases/.  A local copy:
                     WCTB_LINUX_TARBALL_7_3=FILE or WCTB_LINUX_DEB_7_3=FILE
                     (one variable per base: _6_12 for 6.12)
  --linux-src DIR    build this kernel tree as it is (out of tree, O=...),
                     with our config fragment merged; DIR is never modified
  --debug            the debug kernel: config/debug.config merged too
                     (KASAN, lockdep, DEBUG_VM, DEBUG_LIST, SLUB debug,
                     kmemleak); cached separately, built in wctb-build-debug
  --headers-only     only install the uAPI headers and the kselftest
                     harness (for --kernel runs that still build tests)
  --selftests-only   the headers and the tree's upstream VFIO selftests,
                     no kernel (for a kernel whose tree has none: 6.12)
  --cache DIR        cache root (default: \$WCTB_CACHE or ~/.cache/wc-testbed)
  -j N               parallel jobs (default: $(nproc))
  --list-series      print every series name (one per line) and exit
  --help             this text
USAGE
}

log() { printf 'build-kernel: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

input_key() {
	local patches=("$@")
	{
		echo "tarball $(tarball_hash)"
		sha256sum "${FRAGMENTS[@]}" "$DMABUF_FRAGMENT" "${BASH_SOURCE[0]}" "$HERE/kernel-tree.sh" "${patches[@]}" | cut -d' ' -f1
		gcc --version | head -1
	} | sha256sum | cut -c1-16
}

# The progress line counts kbuild's steps against the most a build of the
# same configuration printed (host/progress.py).
compile_kernel() {
	local src=$1 out=$2 logfile=$2/build.log
	local steps=$CACHE/kernel/steps-$KERNEL_BASE$( ((!DEBUG)) || echo -debug)
	log "compiling (log: $logfile)"
	if ! kmake "$src" "$out" -j"$JOBS" bzImage 2>&1 |
		python3 "$HERE/../host/progress.py" --label "build-kernel: compiling" \
			--log "$logfile" --count-file "$steps"; then
		grep -E 'error|Error' "$logfile" | head -20 >&2 || tail -20 "$logfile" >&2
		die "kernel build failed; full log in $logfile"
	fi
}

install_headers() {
	local src=$1 out=$2
	kmake "$src" "$out" -s headers_install \
		INSTALL_HDR_PATH="$out/headers-install" >/dev/null ||
		die "make headers_install failed in $src"
}

# Upstream's VFIO selftests of the tree just built (tools/testing/selftests/
# vfio), static, against its uAPI headers and tools/include, into
# ART/vfio-selftests/ (run-vm.sh runs them in the intel-iommu boot).  A
# tree without them (6.12) gets none.  Objects go to OUT, never to SRC.
build_vfio_selftests() {
	local src=$1 out=$2 art=$3 dir=$1/tools/testing/selftests/vfio
	local obj=$2/vfio-selftests logfile=$2/vfio-selftests.log start n
	if [[ ! -f $dir/Makefile ]]; then
		((!SELFTESTS_ONLY)) ||
			die "--selftests-only: $src has no tools/testing/selftests/vfio (the 7.3 base has them: --base 7.3)"
		log "no tools/testing/selftests/vfio in $src: no upstream VFIO selftests"
		return 0
	fi
	[[ $(gcc -print-file-name=libuuid.a) == /* ]] ||
		die "libuuid.a not found, which the VFIO selftests link statically; install uuid-dev (.ci/setup-host.sh)"
	log "building the upstream VFIO selftests (log: $logfile)"
	start=$SECONDS
	rm -rf "$obj"	# no program of an earlier state of the tree stays
	mkdir -p "$obj"
	if ! CCACHE_DIR=$CACHE/ccache make -C "$dir" OUTPUT="$obj" -j"$JOBS" CC="ccache gcc" \
		KHDR_INCLUDES="-isystem $out/headers-install/include" \
		EXTRA_CFLAGS=-static LDFLAGS="-static -pthread" >"$logfile" 2>&1; then
		grep -E 'error' "$logfile" | head -20 >&2 || tail -20 "$logfile" >&2
		die "building the VFIO selftests of $src failed; full log in $logfile"
	fi
	mkdir -p "$art/vfio-selftests"
	find "$obj" -maxdepth 1 -type f -executable -exec cp {} "$art/vfio-selftests/" \;
	n=$(find "$art/vfio-selftests" -type f | wc -l)
	((n > 0)) || die "the VFIO selftests build in $obj produced no program; log in $logfile"
	touch "$art/.selftests"
	log "built $n VFIO selftests in $((SECONDS - start)) s"
}

# Copy what the guest build needs into the artifact directory.  Markers:
# .headers (always), .selftests (upstream VFIO selftests built), .complete
# (bzImage too, with checksums); --headers-only and --selftests-only
# artifacts stop short of .complete.
publish() {
	local src=$1 out=$2 art=$3
	rm -rf "$art.tmp"
	mkdir -p "$art.tmp/selftests"
	cp -r "$out/headers-install" "$art.tmp/headers"
	cp "$src/tools/testing/selftests/kselftest_harness.h" \
		"$src/tools/testing/selftests/kselftest.h" "$art.tmp/selftests/"
	touch "$art.tmp/.headers"
	if ((SELFTESTS_ONLY)); then
		build_vfio_selftests "$src" "$out" "$art.tmp"
	elif ((!HEADERS_ONLY)); then
		cp "$out/arch/x86/boot/bzImage" "$art.tmp/"
		cp "$out/.config" "$art.tmp/config"
		build_vfio_selftests "$src" "$out" "$art.tmp"
		(cd "$art.tmp" && sha256sum bzImage config headers/include/linux/vfio.h >.complete)
	fi
	rm -rf "$art"
	mv "$art.tmp" "$art"
}

# A cached artifact whose files no longer match their checksums (a crash
# while writing, a full disk, a stray edit) is deleted, so it is rebuilt.
drop_if_corrupt() {
	local art=$1
	[[ -s $art/.complete ]] || return 0
	(cd "$art" && sha256sum --quiet -c .complete >/dev/null 2>&1) && return 0
	log "cached $art is corrupt (checksum mismatch); rebuilding it"
	rm -rf "$art"
}

# Configure, compile and install headers, or only the headers.
build_tree() {
	local src=$1 out=$2
	if ((!HEADERS_ONLY)); then
		configure_kernel "$src" "$out"
		compile_kernel "$src" "$out"
	fi
	install_headers "$src" "$out"
}

# Whether the cached artifact ART holds what this build mode needs.
artifact_usable() {
	local art=$1
	if [[ -f $art/.complete ]]; then
		return 0	# a full build has everything
	elif ((SELFTESTS_ONLY)); then
		[[ -f $art/.selftests ]]
	elif ((HEADERS_ONLY)); then
		[[ -f $art/.headers ]]
	else
		return 1
	fi
}

build_series() {
	local sfile list patches key art src out
	sfile=$(series_file "$SERIES")
	list=$(series_patches "$sfile") || exit "$?"
	mapfile -t patches <<<"$list"
	[[ -n $list ]] || patches=()
	key=$(input_key "${patches[@]}")
	local variant=$KERNEL_BASE-$SERIES
	((!DEBUG)) || variant=$variant-debug
	art=$CACHE/kernel/out/$variant-$key
	drop_if_corrupt "$art"
	if artifact_usable "$art"; then
		log "up to date: $art"
		echo "$art"
		return
	fi
	src=$(src_root)/$SERIES
	out=$src/$BUILD_SUBDIR
	prepare_base_tree "$src"
	apply_series "$src" "${patches[@]}"
	mkdir -p "$out"
	build_tree "$src" "$out"
	publish "$src" "$out" "$art"
	log "built $art"
	echo "$art"
}

# A user's tree: always let make decide what is stale; never write into it.
build_user_tree() {
	local src out art
	src=$(cd "$LINUX_SRC" 2>/dev/null && pwd) || die "--linux-src $LINUX_SRC is not a directory"
	[[ -f $src/Makefile && -d $src/arch/x86 ]] || die "$src does not look like a Linux source tree"
	[[ ! -e $src/.config ]] || die "$src has a .config (in-tree build); run 'make mrproper' there, we build out of tree"
	out=$CACHE/kernel/user/$(echo "$src" | sha256sum | cut -c1-16)
	art=$out/artifact
	mkdir -p "$out"
	build_tree "$src" "$out"
	publish "$src" "$out" "$art"
	echo "$art"
}

main() {
	while (($#)); do
		case "$1" in
		--series) SERIES=${2:?--series needs a name}; shift ;;
		--base) KERNEL_BASE=${2:?--base needs a version}; shift ;;
		--linux-src) LINUX_SRC=${2:?--linux-src needs a directory}; shift ;;
		--headers-only) HEADERS_ONLY=1 ;;
		--selftests-only) HEADERS_ONLY=1 SELFTESTS_ONLY=1 ;;
		--debug) DEBUG=1 ;;
		--cache) CACHE=${2:?--cache needs a directory}; shift ;;
		-j) JOBS=${2:?-j needs a number}; shift ;;
		--list-series) all_series; exit 0 ;;
		-h | --help) usage; exit 0 ;;
		*) usage >&2; die "unknown option '$1'" ;;
		esac
		shift
	done
	command -v ccache >/dev/null || die "ccache not found; run .ci/setup-host.sh"
	if ((DEBUG)); then
		FRAGMENTS+=("$DEBUG_FRAGMENT")
		BUILD_SUBDIR=wctb-build-debug
	fi
	if [[ -n $LINUX_SRC ]]; then
		build_user_tree
	else
		resolve_tarball
		build_series
	fi
}

main "$@"
