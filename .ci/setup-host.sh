#!/usr/bin/env bash
# Install everything wc-testbed needs on a Debian 12 (bookworm) host:
# apt sources (bookworm-backports, deb-src), build dependencies, runtime data.
set -euo pipefail

readonly BACKPORTS_LIST=/etc/apt/sources.list.d/wc-testbed-backports.sources

# Packages from bookworm main.
readonly MAIN_PACKAGES=(
	build-essential ccache ninja-build pkg-config python3 python3-venv
	dpkg-dev xz-utils ca-certificates git
	libglib2.0-dev libfdt-dev libpixman-1-dev zlib1g-dev
	flex bison bc libelf-dev libssl-dev cpio kmod rsync python3-ply
	busybox-static qemu-system-data seabios lz4
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
deb-src) to apt if missing, then installs the build and runtime packages.

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

add_backports_sources() {
	log "adding bookworm-backports (deb, deb-src) as $BACKPORTS_LIST"
	cat >"$BACKPORTS_LIST" <<SRC
Types: deb deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
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
	if ((${#missing[@]} == 0)) && has_backports_sources && meson_new_enough; then
		commands_on_path
		((check_only)) || log "host is ready"
		exit 0
	fi
	if ((check_only)); then
		log "missing: ${missing[*]:-(none)}; backports sources or meson >= 1.5 may be missing too"
		exit 1
	fi
	if ((EUID != 0)); then
		die "not root. Run: sudo $(readlink -f "$0")"
	fi
	has_backports_sources || add_backports_sources
	((${#missing[@]})) || missing=(meson)
	install_packages "${missing[@]}"
	meson_new_enough || die "meson $(meson --version 2>/dev/null) is older than 1.5; install it from bookworm-backports"
	commands_on_path
	log "host is ready"
}

main "$@"
