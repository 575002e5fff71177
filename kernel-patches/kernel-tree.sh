# Settings and shell functions shared by build-kernel.sh and
# check-series.sh.  Source it after setting HERE (kernel-patches/); the
# functions call log() and die(), which each script defines.

# The kernel base: a file in bases/ names its Debian source package.
# 7.3 is the default and the only base the series and the naive control
# apply to; 6.12 is there for the stock-kernel matrix (--series none).
KERNEL_BASE=${WCTB_KERNEL_BASE:-7.3}
# Set by resolve_tarball: the base's tarball.
TARBALL=
readonly FRAGMENT=$HERE/config/wc-testbed.config
# vfio-pci's DMABUF export, merged into every tree that has it (7.3, not
# 6.12): the DMABUF design builds on it, and every kernel of the
# comparison gets the same config, so that only the patches differ.
readonly DMABUF_FRAGMENT=$HERE/config/vfio-dmabuf.config
readonly DEBUG_FRAGMENT=$HERE/config/debug.config
# The fragments merged on top of tinyconfig (build-kernel.sh --debug adds
# DEBUG_FRAGMENT).
FRAGMENTS=("$FRAGMENT")
CACHE=${WCTB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/wc-testbed}
# Build directories live directly inside their source tree, so that kbuild
# uses relative paths (srctree = ..) and ccache hits across series; the
# debug kernel builds in wctb-build-debug.  git clean spares them all.
BUILD_SUBDIR=wctb-build
readonly BUILD_DIRS_PATTERN="/wctb-build*/"

# The comparison series: one folder each in alternatives/, named as the
# series (e.g. dmabuf-memattr).
alternative_series() {
	local d
	for d in "$HERE"/alternatives/*/; do
		if [[ -f $d/series ]]; then
			basename "$d"
		fi
	done
}

# Every series name: patched, naive, none and the alternatives.
all_series() {
	printf '%s\n' patched naive none
	alternative_series
}

series_file() {
	[[ $1 == none || $KERNEL_BASE == 7.3 ]] ||
		die "series '$1' is written for Linux 7.3; on base $KERNEL_BASE only series none (the stock kernel) builds"
	case "$1" in
	patched) echo "$HERE/series" ;;
	naive) echo "$HERE/controls/naive-wc/series" ;;
	none) echo /dev/null ;;
	*)
		[[ $1 =~ ^[a-z0-9-]+$ && -f $HERE/alternatives/$1/series ]] ||
			die "unknown series '$1'; use one of: $(all_series | tr '\n' ' ')"
		echo "$HERE/alternatives/$1/series" ;;
	esac
}


# Patch files named by a series file, one per line; '#' starts a comment.
series_patches() {
	local file=$1 dir line
	dir=$(dirname "$file")
	[[ -r $file ]] || die "series file $file is missing"
	while IFS= read -r line; do
		line=${line%%#*}
		line=${line//[[:space:]]/}
		[[ -n $line ]] || continue
		[[ -r $dir/$line ]] || die "series $file names $line, which does not exist in $dir"
		echo "$dir/$line"
	done <"$file"
}

# One setting (KEY=VALUE line) of bases/$KERNEL_BASE, or nothing.
base_setting() {
	local file=$HERE/bases/$KERNEL_BASE
	[[ -r $file ]] || die "unknown kernel base '$KERNEL_BASE'; the bases are: $(ls "$HERE/bases" | tr '\n' ' ')"
	sed -n "s/^$1=//p" "$file"
}

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

# A local copy of the base's source, from the environment:
# WCTB_LINUX_<DEB|TARBALL>_<base, dots as underscores>, e.g.
# WCTB_LINUX_TARBALL_7_3 (one variable per base, so that a 7.3 tarball
# never builds the 6.12 kernel of the matrix).
local_source() {
	local var=WCTB_LINUX_$1_${KERNEL_BASE//./_}
	echo "${!var:-}"
}

# Download the pinned .deb of the base into @dir (or take the local copy)
# and check it; prints its path.
fetch_deb() {
	local dir=$1 pkg version suite want deb local_deb
	pkg=$(base_setting package)
	version=$(base_setting version)
	suite=$(base_setting suite)
	want=$(base_setting deb_sha256)
	local_deb=$(local_source DEB)
	if [[ -n $local_deb ]]; then
		[[ -r $local_deb ]] || die "WCTB_LINUX_DEB_${KERNEL_BASE//./_}=$local_deb: no such file"
		deb=$local_deb
	else
		log "downloading $pkg $version from $suite (once)"
		(cd "$dir" && apt-get download -qq "$pkg=$version" </dev/null >&2) ||
			die "apt-get download $pkg=$version failed: the apt index may be stale or lack $suite (run .ci/setup-host.sh, or apt-get update), or the pinned version is gone from $suite ('apt-cache policy $pkg' lists what is there; update bases/$KERNEL_BASE).  A local copy: WCTB_LINUX_DEB_${KERNEL_BASE//./_}=/path/to/${pkg}_${version}_all.deb or WCTB_LINUX_TARBALL_${KERNEL_BASE//./_}=/path/to/$pkg.tar.xz"
		# apt-get download names the file after the version, ':' as %3a.
		deb=$dir/${pkg}_${version//:/%3a}_all.deb
		[[ -f $deb ]] || die "apt-get download left no $deb"
	fi
	if [[ $(sha256_of "$deb") != "$want" ]]; then
		[[ -n $local_deb ]] || rm -f "$deb"
		die "$deb does not have the sha256 bases/$KERNEL_BASE pins ($want); it is not $pkg $version"
	fi
	echo "$deb"
}

# The base's tarball, fetched and checked once into $CACHE/src/linux-BASE;
# the memo names the sha256 it was checked against, so a new pin in
# bases/ fetches again.  Runs at the same time take turns (flock).
fetched_tarball() {
	local dir=$CACHE/src/linux-$KERNEL_BASE member tarball deb want lock
	member=$(base_setting member)
	want=$(base_setting tarball_sha256)
	tarball=$dir/$(basename "$member")
	mkdir -p "$dir"
	exec {lock}>"$dir/.lock"
	flock "$lock"
	if [[ -f $tarball && $(cat "$tarball.verified" 2>/dev/null) == "$want" ]]; then
		exec {lock}>&-
		echo "$tarball"
		return
	fi
	rm -f "$tarball.verified"
	deb=$(fetch_deb "$dir") || exit 1
	log "extracting $member from $(basename "$deb")"
	dpkg-deb --fsys-tarfile "$deb" | tar -xO "./$member" >"$tarball.tmp" ||
		die "$deb holds no $member; is it the right package?"
	[[ $(sha256_of "$tarball.tmp") == "$want" ]] ||
		die "$member in $deb does not have the sha256 bases/$KERNEL_BASE pins"
	mv "$tarball.tmp" "$tarball"
	[[ -n $(local_source DEB) ]] || rm -f "$deb"
	echo "$want" >"$tarball.verified"
	exec {lock}>&-
	echo "$tarball"
}

# Sets TARBALL for the base: its local tarball, the installed package's
# tarball, or the pinned download.
resolve_tarball() {
	local installed local_tarball
	local_tarball=$(local_source TARBALL)
	if [[ -n $local_tarball ]]; then
		TARBALL=$local_tarball
		[[ -r $TARBALL ]] || die "WCTB_LINUX_TARBALL_${KERNEL_BASE//./_}=$TARBALL: no such file"
		return
	fi
	installed=$(base_setting installed)
	if [[ -n $installed ]]; then
		TARBALL=$installed
		[[ -r $TARBALL ]] || die "$TARBALL not found; install $(base_setting package) (run .ci/setup-host.sh)"
		return
	fi
	TARBALL=$(fetched_tarball) || exit 1
}

# Hash of the tarball, remembered by size and mtime (hashing 160 MB costs time).
tarball_hash() {
	local stamp hash memo=$CACHE/kernel/tarball-$KERNEL_BASE.sha256
	[[ -n $TARBALL ]] || resolve_tarball
	stamp="$TARBALL $(stat -c '%s %Y' "$TARBALL")" || die "cannot stat $TARBALL"
	if [[ -r $memo && $(head -1 "$memo") == "$stamp" ]]; then
		tail -1 "$memo"
		return
	fi
	mkdir -p "$(dirname "$memo")"
	hash=$(sha256_of "$TARBALL") && [[ -n $hash ]] || die "cannot hash $TARBALL"
	printf '%s\n%s\n' "$stamp" "$hash" >"$memo"
	tail -1 "$memo"
}

# Where the kernel trees of the base live.
src_root() { echo "$CACHE/kernel/src/$KERNEL_BASE"; }

# The pristine tarball as one commit, tagged base-HASH, in a bare
# repository (src_root/base.git) that every series tree of the base is a
# worktree of: the tarball is unpacked and hashed into git once, not once
# per series.  Built aside and moved into place.
base_repo() {
	local base=$1 repo tmp
	repo=$(src_root)/base.git
	if [[ $(git --git-dir="$repo" tag -l "base-${base:0:16}" 2>/dev/null) ]]; then
		return
	fi
	log "unpacking $TARBALL into $repo (once per tarball)"
	tmp=$(mktemp -d "$(src_root)/.base.XXXXXX")
	mkdir "$tmp/tree"
	tar -xf "$TARBALL" -C "$tmp/tree" --strip-components=1 || die "unpacking $TARBALL failed"
	git init -q --bare "$tmp/git"
	# No background repacks of 90,000 objects while the kernel builds.
	git --git-dir="$tmp/git" config gc.auto 0
	git --git-dir="$tmp/git" config maintenance.auto false
	# Debian's tree ignores everything in .gitignore, hence -f.
	git --git-dir="$tmp/git" --work-tree="$tmp/tree" add -Af . || die "git add failed in $tmp/tree"
	git --git-dir="$tmp/git" --work-tree="$tmp/tree" -c user.name=wc-testbed \
		-c user.email=wc-testbed@localhost commit -q -m "$(basename "$TARBALL") ${base:0:16}" ||
		die "git commit failed in $tmp/tree"
	git --git-dir="$tmp/git" tag "base-${base:0:16}"
	rm -f "$tmp/git/index"
	rm -rf "$repo"
	mv "$tmp/git" "$repo"
	rm -rf "$tmp"
}

# A work tree of the pristine tarball (tag base-HASH), for one series.
# Runs at the same time take turns (flock).
prepare_base_tree() {
	local src=$1 base repo
	repo=$(src_root)/base.git
	base=$(tarball_hash)
	if git -C "$src" rev-parse --git-dir >/dev/null 2>&1 &&
		[[ $(git -C "$src" tag -l "base-${base:0:16}") ]]; then
		return
	fi
	mkdir -p "$(src_root)"
	exec {lock}>"$(src_root)/.lock"
	flock "$lock"
	base_repo "$base"
	log "checking out $src from $repo"
	rm -rf "$src"
	git --git-dir="$repo" worktree prune
	git --git-dir="$repo" worktree add -q --detach "$src" "base-${base:0:16}" >&2 ||
		die "git worktree add $src failed"
	exec {lock}>&-
}

# Check out the pristine tree (for applying patches one by one).
reset_to_base() {
	local src=$1
	git -C "$src" am --abort >/dev/null 2>&1 || true
	git -C "$src" checkout -q -f --detach "base-$(tarball_hash | cut -c1-16)"
	git -C "$src" clean -qfdx -e "$BUILD_DIRS_PATTERN"
}

# Check out the pristine tree plus the series.  The result is built in a
# scratch index and checked out as one commit, so only files whose content
# differs from the tree's current state are written: make then rebuilds
# only what the change touched.
apply_series() {
	local src=$1 base idx tree commit p
	shift
	base=base-$(tarball_hash | cut -c1-16)
	idx=$(git -C "$src" rev-parse --absolute-git-dir)/wctb-series-index
	git -C "$src" am --abort >/dev/null 2>&1 || true
	GIT_INDEX_FILE=$idx git -C "$src" read-tree "$base"
	for p in "$@"; do
		GIT_INDEX_FILE=$idx git -C "$src" apply --cached --whitespace=nowarn "$p" ||
			die "$(basename "$p") does not apply to Linux $KERNEL_BASE ($(basename "$TARBALL")) after the patches before it"
	done
	tree=$(GIT_INDEX_FILE=$idx git -C "$src" write-tree)
	commit=$(git -C "$src" -c user.name=wc-testbed -c user.email=wc-testbed@localhost \
		commit-tree "$tree" -p "$base" -m "wc-testbed: base + $# patch(es)")
	log "checking out base + $# patch(es)"
	git -C "$src" checkout -q -f --detach "$commit"
	git -C "$src" clean -qfdx -e "$BUILD_DIRS_PATTERN"
}

# kmake SRC OUT ARGS...: make in the kernel tree SRC, objects in OUT,
# through ccache, with one build identity for every build of the testbed.
kmake() {
	local src=$1 out=$2
	shift 2
	KBUILD_BUILD_TIMESTAMP='2026-01-01' KBUILD_BUILD_USER=wctb KBUILD_BUILD_HOST=wctb \
		CCACHE_DIR=$CACHE/ccache make -C "$src" O="$out" ARCH=x86_64 CC="ccache gcc" "$@"
}

# The fragments tree SRC is configured with: FRAGMENTS, and the DMABUF
# fragment where the tree has vfio-pci's DMABUF export.
tree_fragments() {
	printf '%s\n' "${FRAGMENTS[@]}"
	if [[ -f $1/drivers/vfio/pci/vfio_pci_dmabuf.c ]]; then
		echo "$DMABUF_FRAGMENT"
	fi
}

# tinyconfig + fragments, then check every fragment line survived olddefconfig.
configure_kernel() {
	local src=$1 out=$2 fragments
	mapfile -t fragments < <(tree_fragments "$src")
	kmake "$src" "$out" -s tinyconfig >/dev/null
	"$src/scripts/kconfig/merge_config.sh" -m -O "$out" "$out/.config" "${fragments[@]}" >/dev/null
	kmake "$src" "$out" -s olddefconfig >/dev/null
	verify_fragment "$out/.config" "${fragments[@]}"
}

verify_fragment() {
	local config=$1 line sym bad=0
	shift
	# shellcheck disable=SC2094
	while IFS= read -r line; do
		case "$line" in
		CONFIG_*=*) grep -qxF "$line" "$config" || { log "config lost: $line (now: $(grep "^${line%%=*}=" "$config" || echo unset))"; bad=1; } ;;
		"# CONFIG_"*" is not set")
			sym=${line#\# }
			sym=${sym%% *}
			! grep -q "^$sym=" "$config" || { log "config lost: $line"; bad=1; } ;;
		esac
	done < <(cat "$@")
	((bad == 0)) || die "config fragment did not survive olddefconfig (a dependency is missing); fix $*"
}

