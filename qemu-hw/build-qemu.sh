#!/usr/bin/env bash
# Build qemu-system-x86_64 with wc-testdev from Debian's QEMU 10.0 source.
# Prints the path of the binary on stdout.
set -euo pipefail

readonly HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly QEMU_TARBALL=qemu_10.0.2+ds.orig.tar.xz
readonly QEMU_SHA256=0901da33844a331bf8b3602b9c1fbd178e60b737c8e3ade678255bd090c9b9f1
readonly QEMU_APT_SOURCE=qemu/bookworm-backports
CONFIGURE_ARGS=(
	--target-list=x86_64-softmmu --without-default-features
	--enable-tcg --enable-kvm --enable-fdt=system
	--disable-install-blobs --disable-docs --python=/usr/bin/python3
	# No DWARF for the VM runs (nobody debugs CI's QEMU; a smaller, faster
	# build); the ASan build adds line tables back for its reports.
	--disable-debug-info
	# Only the devices the testbed uses (wc-testbed.mak in the overlay): q35,
	# the IOMMU, the root port, wc-testdev.
	--without-default-devices --with-devices-x86_64=wc-testbed
	# Installed layout: Debian's firmware paths.  Run from the build tree,
	# QEMU looks in qemu-bundle/ instead, which link_firmware fills.
	--prefix=/usr --firmwarepath=/usr/share/seabios --disable-relocatable
)
readonly NINJA_TARGETS=(qemu-system-x86_64 tests/qtest/wc-testdev-test)
readonly DEVICE_SET=configs/devices/x86_64-softmmu/wc-testbed.mak
CACHE=${WCTB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/wc-testbed}

usage() {
	cat <<USAGE
Usage: $0 [--cache DIR] [--sanitize] [--print-src | --print-patches |
       --print-overlay | --export-patches DIR] [--help]

Fetch Debian's QEMU 10.0 orig tarball (sha256 checked), apply the hunks
of qemu-hw/patches/series, overlay the files that qemu-hw/ keeps at their
QEMU paths (in the directories the series names: hw/misc/wc-testdev.c,
...) and build a minimal qemu-system-x86_64 (TCG and KVM; only the
devices of qemu-hw/$DEVICE_SET)
with ccache.  Only overlay files whose content changed are copied, and
nothing is rebuilt when no input changed.  Prints the binary's path on
stdout; the wc-testdev qtest is built next to it, in
tests/qtest/wc-testdev-test.

  --cache DIR    cache root (default: \$WCTB_CACHE or ~/.cache/wc-testbed)
  --sanitize     build with AddressSanitizer and UBSan (for the device
                 fuzzer, which runs it under qtest: without TCG), in a
                 build directory of its own
  --print-src    print the prepared QEMU source directory instead
  --print-patches  print the series' patch files, one a line, instead
  --print-overlay  print the overlay's files (paths in the QEMU tree)
  --export-patches DIR
                 write the complete series, each patch with its overlay
                 files, as 'git format-patch' does into DIR (applied to a
                 git repository of the pristine tarball tree), instead
  --help         this text
USAGE
}

log() { printf 'build-qemu: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

fetch_tarball() {
	local dir=$CACHE/src
	mkdir -p "$dir"
	if [[ ! -f $dir/$QEMU_TARBALL ]]; then
		log "fetching $QEMU_APT_SOURCE source tarball with apt-get source"
		(cd "$dir" && apt-get source -qq -o APT::Sandbox::User=root --download-only --tar-only "$QEMU_APT_SOURCE" >&2) ||
			die "apt-get source $QEMU_APT_SOURCE failed; is deb-src for bookworm-backports configured? run .ci/setup-host.sh"
		[[ -f $dir/$QEMU_TARBALL ]] ||
			die "apt-get source did not give $QEMU_TARBALL (Debian moved on?); pin the new tarball in $0"
	fi
	# Checked once per file: the size and mtime it had then are noted, so
	# that a warm run does not hash 30 MB twice.
	local seen=$dir/$QEMU_TARBALL.verified stat
	stat=$(stat -c '%s %Y' "$dir/$QEMU_TARBALL")
	if [[ $(cat "$seen" 2>/dev/null) != "$QEMU_SHA256 $stat" ]]; then
		echo "$QEMU_SHA256  $dir/$QEMU_TARBALL" | sha256sum -c --quiet - >&2 || {
			rm -f "$dir/$QEMU_TARBALL" "$seen"
			die "sha256 mismatch for $QEMU_TARBALL; deleted it, run again to refetch"
		}
		echo "$QEMU_SHA256 $stat" >"$seen"
	fi
	echo "$dir/$QEMU_TARBALL"
}

# The series file: a patch a line, then the overlay directories (QEMU
# paths below qemu-hw/) whose files belong to that patch; '#' comments.
# Prints "PATCH<tab>DIR..." per patch, the patch's path absolute.
read_series() {
	local line words
	while IFS= read -r line; do
		line=${line%%#*}
		read -r -a words <<<"$line"
		((${#words[@]})) || continue
		[[ -f $HERE/patches/${words[0]} ]] ||
			die "patches/series names ${words[0]}, which is not in patches/"
		printf '%s\t%s\n' "$HERE/patches/${words[0]}" "${words[*]:1}"
	done <"$HERE/patches/series"
}

patch_files() { read_series | cut -f1; }

# overlay_files [DIR...]: the overlay's files (in every directory the
# series names, or in DIR...), as paths in the QEMU tree, sorted.
overlay_files() {
	local dirs=("$@")
	((${#dirs[@]})) || mapfile -t dirs < <(read_series | cut -f2 | tr ' ' '\n' | sed '/^$/d')
	((${#dirs[@]})) || return 0
	(cd "$HERE" && find "${dirs[@]}" -type f | LC_ALL=C sort)
}

# install_overlay TREE [DIR...]: copy those files into TREE, only those
# whose content changed, so that ninja rebuilds only what they touch.
install_overlay() {
	local tree=$1 f
	shift
	while IFS= read -r f; do
		install -C -D -m 0644 "$HERE/$f" "$tree/$f"
	done < <(overlay_files "$@")
}

hash_files() { sha256sum "$@" | cut -d' ' -f1 | sha256sum | cut -c1-16; }

# Unpack and patch once per (tarball, patches); the tree is then reused.
prepare_source() {
	local tarball=$1 key src
	local patches
	mapfile -t patches < <(patch_files)
	key=$(echo "$QEMU_SHA256 $(hash_files "${patches[@]}")" | sha256sum | cut -c1-16)
	src=$CACHE/qemu/src-$key
	if [[ ! -f $src/.wctb-prepared ]]; then
		log "unpacking and patching QEMU into $src"
		rm -rf "$src"
		mkdir -p "$src"
		tar -xf "$tarball" -C "$src" --strip-components=1 --no-same-owner
		local p
		for p in "${patches[@]}"; do
			patch -d "$src" -p1 -s --no-backup-if-mismatch <"$p" >&2 ||
				die "$(basename "$p") does not apply to QEMU 10.0.2"
		done
		touch "$src/.wctb-prepared"
	fi
	echo "$src"
}

# A git repository of the pristine tarball tree, made once; its HEAD is
# the tarball.  Every file is added, also those QEMU's .gitignore names.
pristine_repo() {
	local tarball=$1 repo=$CACHE/qemu/pristine-${QEMU_SHA256:0:16}.git
	if [[ ! -f $repo/.wctb-ready ]]; then
		log "making a git repository of the pristine tree in $repo"
		rm -rf "$repo" "$repo.tree"
		mkdir -p "$repo.tree"
		tar -xf "$tarball" -C "$repo.tree" --strip-components=1 --no-same-owner
		git init -q --bare "$repo"
		git --git-dir="$repo" --work-tree="$repo.tree" add -A -f
		git --git-dir="$repo" --work-tree="$repo.tree" commit -q \
			-m "QEMU 10.0.2 ($QEMU_TARBALL)"
		rm -rf "$repo.tree"
		touch "$repo/.wctb-ready"
	fi
	echo "$repo"
}

# The series as commits on the pristine tree in a temporary worktree:
# each patch applied with git am, its overlay directories added to it;
# then git format-patch into $2.  Dates are the patches' own, so the
# output depends only on the series and the overlay.
export_patches() {
	local tarball=$1 out=$2 repo tree patch dirs n=0
	repo=$(pristine_repo "$tarball")
	mkdir -p "$out" || die "cannot create $out"
	tree=$(mktemp -d "${TMPDIR:-/tmp}/wctb-export.XXXXXX")
	# shellcheck disable=SC2064 # expanded now: the locals are gone at exit
	trap "git --git-dir=$(printf %q "$repo") worktree remove --force $(printf %q "$tree") 2>/dev/null
		rm -rf $(printf %q "$tree")" EXIT
	git --git-dir="$repo" worktree add -q --detach "$tree" HEAD
	export GIT_COMMITTER_NAME=wc-testbed GIT_COMMITTER_EMAIL=wc-testbed@localhost
	while IFS=$'\t' read -r patch dirs; do
		n=$((n + 1))
		git -C "$tree" am -q --committer-date-is-author-date "$patch" >&2 ||
			die "$(basename "$patch") does not apply to QEMU 10.0.2"
		[[ -n $dirs ]] || continue
		# shellcheck disable=SC2086 # dirs: a word list
		install_overlay "$tree" $dirs
		# shellcheck disable=SC2086
		git -C "$tree" add -- $dirs
		GIT_COMMITTER_DATE=$(git -C "$tree" log -1 --format=%aD) \
			git -C "$tree" commit -q --amend --no-edit
	done < <(read_series)
	git -C "$tree" -c core.abbrev=12 format-patch -q --zero-commit -o "$out" "HEAD~$n"
}

configure_qemu() {
	local src=$1 build=$2
	[[ -f $build/build.ninja ]] && return
	log "configuring QEMU in $build"
	mkdir -p "$build"
	(cd "$build" && "$src/configure" "${CONFIGURE_ARGS[@]}" >configure.log 2>&1) || {
		tail -20 "$build/configure.log" >&2
		rm -f "$build/build.ninja"
		die "QEMU configure failed; full log in $build/configure.log"
	}
}

compile_qemu() {
	local build=$1
	log "compiling QEMU (log: $build/ninja.log.txt)"
	PATH=/usr/lib/ccache:$PATH CCACHE_DIR=$CACHE/ccache \
		ninja -C "$build" "${NINJA_TARGETS[@]}" >"$build/ninja.log.txt" 2>&1 || {
		grep -E 'error' "$build/ninja.log.txt" | head -20 >&2
		die "QEMU build failed; full log in $build/ninja.log.txt"
	}
}

# Debian's firmware (seabios, qemu-system-data) where a QEMU run from the
# build tree looks for it, so that it and its qtests need no -L.
link_firmware() {
	local build=$1 dir f
	for dir in /usr/share/seabios /usr/share/qemu; do
		mkdir -p "$build/qemu-bundle$dir"
		for f in "$dir"/*.bin "$dir"/*.rom; do
			[[ -e $f ]] || continue
			ln -sfn "$f" "$build/qemu-bundle$dir/$(basename "$f")"
		done
	done
	[[ -e $build/qemu-bundle/usr/share/seabios/bios-256k.bin ]] ||
		die "bios-256k.bin not found; install seabios (.ci/setup-host.sh)"
}

# Binaries that no longer match the checksums in the stamp are deleted
# (ninja would trust their timestamps), so they are relinked.
drop_if_corrupt() {
	local build=$1 stamp=$2
	[[ -f $stamp ]] && (($(wc -l <"$stamp") > 1)) || return 0
	(cd "$build" && tail -n +2 "$stamp" | sha256sum --quiet -c - >/dev/null 2>&1) && return 0
	log "cached QEMU build in $build is corrupt (checksum mismatch); rebuilding it"
	rm -f "$stamp" "$build/qemu-system-x86_64" "$build/tests/qtest/wc-testdev-test"
}

main() {
	local print_src=0 export_dir=
	while (($#)); do
		case "$1" in
		--cache) CACHE=${2:?--cache needs a directory}; shift ;;
		--print-src) print_src=1 ;;
		--print-patches) patch_files; exit 0 ;;
		--print-overlay) overlay_files; exit 0 ;;
		--export-patches) export_dir=${2:?--export-patches needs a directory}; shift ;;
		# The fuzzer drives the device through qtest: no TCG to build.
		--sanitize) CONFIGURE_ARGS+=(--enable-asan --enable-ubsan --disable-tcg --extra-cflags=-g1) ;;
		-h | --help) usage; exit 0 ;;
		*) usage >&2; die "unknown option '$1'" ;;
		esac
		shift
	done
	read_series >/dev/null     # a series naming a missing patch stops here

	local tarball src build stamp inputs overlay
	tarball=$(fetch_tarball)
	if [[ -n $export_dir ]]; then
		export_patches "$tarball" "$export_dir"
		return
	fi
	src=$(prepare_source "$tarball")
	if ((print_src)); then
		echo "$src"
		return
	fi
	[[ -x /usr/lib/ccache/gcc ]] || die "ccache not installed; run .ci/setup-host.sh"
	# The device set is read at configure time: it keys the build directory.
	build=$CACHE/qemu/build-$(echo "${src##*/} ${CONFIGURE_ARGS[*]} $(hash_files "$HERE/$DEVICE_SET")" |
		sha256sum | cut -c1-16)
	mapfile -t overlay < <(overlay_files)
	inputs=$(hash_files "${BASH_SOURCE[0]}" "${overlay[@]/#/$HERE/}")
	stamp=$build/.wctb-stamp
	drop_if_corrupt "$build" "$stamp"
	if [[ -x $build/qemu-system-x86_64 && -x $build/tests/qtest/wc-testdev-test &&
		-f $stamp && $(head -1 "$stamp") == "$inputs" ]]; then
		log "up to date: $build/qemu-system-x86_64"
	else
		local fresh=0 t0=$SECONDS
		[[ -f $build/build.ninja ]] || fresh=1
		install_overlay "$src"
		configure_qemu "$src" "$build"
		compile_qemu "$build"
		link_firmware "$build"
		# How long a build from scratch took (ccache as it was), for the
		# benchmark's ASan / normal ratio.
		((!fresh)) || echo $((SECONDS - t0)) >"$build/.wctb-build-seconds"
		{
			echo "$inputs"
			(cd "$build" && sha256sum qemu-system-x86_64 tests/qtest/wc-testdev-test)
		} >"$stamp"
	fi
	echo "$build/qemu-system-x86_64"
}

main "$@"
