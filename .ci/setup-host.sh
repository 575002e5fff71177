#!/usr/bin/env bash
# Install everything wc-testbed needs on a Debian 12 (bookworm) host:
# apt sources (bookworm-backports, deb-src), build dependencies, runtime data.
set -euo pipefail

readonly BACKPORTS_LIST=/etc/apt/sources.list.d/wc-testbed-backports.sources
# trixie-backports, for the Linux 7.3 source package only
# (kernel-patches/bases/7.3): the pin gives every other package of the
# suite priority -1, so nothing from trixie is ever installed or upgraded.
readonly TRIXIE_LIST=/etc/apt/sources.list.d/wc-testbed-trixie-backports.sources
readonly TRIXIE_PIN=/etc/apt/preferences.d/wc-testbed-trixie-backports
readonly TRIXIE_PACKAGE=linux-source-7.3

# Packages from bookworm main.
readonly MAIN_PACKAGES=(
	build-essential ccache ninja-build pkg-config python3 python3-venv
	dpkg-dev xz-utils ca-certificates git
	libglib2.0-dev libfdt-dev libpixman-1-dev zlib1g-dev
	flex bison bc libelf-dev libssl-dev cpio kmod rsync python3-ply
	busybox-static qemu-system-data seabios lz4
	# libuuid.a, which the kernel's VFIO selftests link statically
	uuid-dev
)
# Packages that must come from bookworm-backports.
readonly BACKPORTS_PACKAGES=(meson python3-pycotap linux-source-6.12)
# Commands the builds and runs call, as COMMAND:PACKAGE.  An installed
# package whose command is not on PATH is a broken host, not a missing
# package: that is reported, not reinstalled.
readonly COMMANDS=(
	gcc:build-essential make:build-essential ccache:ccache ninja:ninja-build
	pkg-config:pkg-config python3:python3 meson:meson git:git xz:xz-utils
	flex:flex bison:bison bc:bc cpio:cpio rsync:rsync busybox:busybox-static
	lz4:lz4
)

usage() {
	cat <<USAGE
Usage: $0 [--check] [--help]

Prepare a Debian 12 host for wc-testbed: adds bookworm-backports (deb and
deb-src) to apt if missing, and trixie-backports pinned so that only the
Linux 7.3 source package can come from it (downloaded, never installed),
then installs the build and runtime packages.

  --check   only report whether everything is installed and its commands
            are on PATH (exit 1 if not)
  --help    this text

Must run as root; otherwise it prints the exact command to run instead.
USAGE
}

log() { printf 'setup-host: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

all_packages() { printf '%s\n' "${MAIN_PACKAGES[@]}" "${BACKPORTS_PACKAGES[@]}"; }

# One dpkg-query for all of them (a warm run-vm.sh pays for this check).
missing_packages() {
	local -A installed=()
	local pkg status
	while read -r pkg status; do
		[[ $status != installed ]] || installed[${pkg%%:*}]=1
	done < <(dpkg-query -W -f='${Package} ${db:Status-Status}\n' $(all_packages) 2>/dev/null)
	for pkg in $(all_packages); do
		[[ -n ${installed[$pkg]:-} ]] || echo "$pkg"
	done
}

missing_commands() {
	local entry
	for entry in "${COMMANDS[@]}"; do
		command -v "${entry%%:*}" >/dev/null ||
			echo "${entry%%:*} (package ${entry#*:})"
	done
}

# Dies unless every command of COMMANDS is on PATH.
commands_on_path() {
	local missing
	mapfile -t missing < <(missing_commands)
	((${#missing[@]} == 0)) ||
		die "packages installed, but not on PATH: ${missing[*]}. Fix PATH (now $PATH) or reinstall those packages"
}

meson_new_enough() {
	command -v meson >/dev/null || return 1
	dpkg --compare-versions "$(meson --version)" ge 1.5
}

has_backports_sources() {
	grep -rqsE '^[^#]*bookworm-backports' /etc/apt/sources.list \
		/etc/apt/sources.list.d/ || return 1
	grep -rqsE '^(deb-src .*bookworm-backports|Types:.*deb-src)' \
		/etc/apt/sources.list /etc/apt/sources.list.d/
}

# write_source FILE SUITE TYPES: one deb822 apt source of Debian's archive.
write_source() {
	cat >"$1" <<SRC
Types: $3
URIs: http://deb.debian.org/debian
Suites: $2
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
}

add_backports_sources() {
	log "adding bookworm-backports (deb, deb-src) as $BACKPORTS_LIST"
	write_source "$BACKPORTS_LIST" bookworm-backports "deb deb-src"
}

# The version kernel-patches/bases/7.3 pins.
trixie_version() {
	sed -n 's/^version=//p' "$(dirname "$(readlink -f "$0")")/../kernel-patches/bases/7.3"
}

# The trixie-backports source, the pin that confines it to one package,
# and its apt index (a cheap check: a warm run pays for it).
has_trixie_source() {
	[[ -r $TRIXIE_LIST && -r $TRIXIE_PIN ]] &&
		grep -q "^Package: $TRIXIE_PACKAGE\$" "$TRIXIE_PIN" &&
		compgen -G "/var/lib/apt/lists/*_dists_trixie-backports_*Packages*" >/dev/null
}

add_trixie_source() {
	log "adding trixie-backports as $TRIXIE_LIST, pinned to $TRIXIE_PACKAGE ($TRIXIE_PIN)"
	cat >"$TRIXIE_PIN" <<PIN
# wc-testbed: nothing from trixie-backports but the kernel source it
# downloads (never installs) may come from this suite.
Package: *
Pin: release n=trixie-backports
Pin-Priority: -1

Package: $TRIXIE_PACKAGE
Pin: release n=trixie-backports
Pin-Priority: 50
PIN
	write_source "$TRIXIE_LIST" trixie-backports deb
}

# apt_install [-t SUITE] PACKAGE...: quiet, non-interactive, says what failed.
apt_install() {
	log "installing: $*"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		"$@" >/dev/null </dev/null ||
		die "apt-get install failed; run 'apt-get install $*' to see why"
}

is_backports_package() {
	local b
	for b in "${BACKPORTS_PACKAGES[@]}"; do [[ $b == "$1" ]] && return 0; done
	return 1
}

install_packages() {
	local pkg main=() bpo=()
	for pkg in "$@"; do
		if is_backports_package "$pkg"; then bpo+=("$pkg"); else main+=("$pkg"); fi
	done
	log "apt-get update"
	apt-get update -qq </dev/null || die "apt-get update failed; check access to deb.debian.org"
	((${#main[@]} == 0)) || apt_install "${main[@]}"
	((${#bpo[@]} == 0)) || apt_install -t bookworm-backports "${bpo[@]}"
}

main() {
	local check_only=0
	while (($#)); do
		case "$1" in
		--check) check_only=1 ;;
		-h | --help) usage; exit 0 ;;
		*) usage >&2; die "unknown option '$1'" ;;
		esac
		shift
	done

	local missing
	mapfile -t missing < <(missing_packages)
	if ((${#missing[@]} == 0)) && has_backports_sources && has_trixie_source &&
		meson_new_enough; then
		commands_on_path
		((check_only)) || log "host is ready"
		exit 0
	fi
	if ((check_only)); then
		log "missing: ${missing[*]:-(none)}; the backports or trixie-backports sources, or meson >= 1.5, may be missing too"
		exit 1
	fi
	if ((EUID != 0)); then
		die "not root. Run: sudo $(readlink -f "$0")"
	fi
	local sources_changed=0
	if ! has_backports_sources; then
		add_backports_sources
		sources_changed=1
	fi
	if ! has_trixie_source; then
		[[ -r $TRIXIE_LIST && -r $TRIXIE_PIN ]] || add_trixie_source
		sources_changed=1
	fi
	# New sources need their index even when no package is missing (the
	# QEMU source and the Linux 7.3 .deb are downloaded from them).
	if ((sources_changed && ${#missing[@]} == 0)); then
		log "apt-get update"
		apt-get update -qq </dev/null || die "apt-get update failed; check access to deb.debian.org"
		apt-cache show "$TRIXIE_PACKAGE=$(trixie_version)" >/dev/null 2>&1 ||
			die "trixie-backports has no $TRIXIE_PACKAGE $(trixie_version); update kernel-patches/bases/7.3 to a version 'apt-cache policy $TRIXIE_PACKAGE' lists"
	fi
	if ((${#missing[@]} == 0)) && meson_new_enough; then
		commands_on_path
		log "host is ready"
		exit 0
	fi
	((${#missing[@]})) || missing=(meson)
	install_packages "${missing[@]}"
	meson_new_enough || die "meson $(meson --version 2>/dev/null) is older than 1.5; install it from bookworm-backports"
	commands_on_path
	log "host is ready"
}

main "$@"
