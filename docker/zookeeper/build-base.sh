#!/usr/bin/env bash
#
# build-base.sh: build the ZooKeeper base image without a container registry.
#
# No image can be pulled here, so the base is a minimal Debian root file
# system made by debootstrap from the host's own Debian mirror (same release
# as the host), holding ZooKeeper's jars and a headless JRE, and loaded with
# `docker import`. The image docker/zookeeper/Dockerfile builds on it.
#
# A base image that already exists is kept: the debootstrap takes minutes,
# and a second `make images` should not repeat it. Remove the image (or set
# FORCE=1) to rebuild it.
#
# Settings (environment):
#   ZK_BASE_IMAGE  image to create (default kzoo/zookeeper-base)
#   DEBIAN_SUITE   Debian release (default: the host's VERSION_CODENAME)
#   DEBIAN_MIRROR  Debian mirror (default: the host's first deb.debian.org-style
#                  "debian" entry in /etc/apt/sources.list*, else deb.debian.org)
#   FORCE          1 rebuilds the base even when it exists

set -euo pipefail

readonly image=${ZK_BASE_IMAGE:-kzoo/zookeeper-base}

# Debian's zookeeper package depends on the full default-jre (with X11 and
# GTK, for its zooinspector GUI); libzookeeper-java holds the server's jars
# and their dependencies, log4j 1.2 and its slf4j binding among them, which
# is all QuorumPeerMain needs.
readonly -a packages=(libzookeeper-java default-jre-headless)

log() {
	printf 'zookeeper-base: %s\n' "$*" >&2
}

die() {
	log "error: $*"
	exit 1
}

# host_suite: the host's Debian release name.
host_suite() {
	local codename
	# shellcheck disable=SC1091 # the host's file
	codename=$(. /etc/os-release && printf '%s' "${VERSION_CODENAME:-}")
	[[ -n $codename ]] || die "cannot tell the host's Debian release from /etc/os-release; set DEBIAN_SUITE"
	printf '%s\n' "$codename"
}

# host_mirror: the first Debian main archive URL the host's apt uses, in
# either the one-line or the deb822 format.
host_mirror() {
	local url
	url=$(
		cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
			grep -oE '(https?|file)://[^[:space:]]+/debian/?([[:space:]]|$)' |
			head -n 1 | tr -d '[:space:]'
	) || true
	printf '%s\n' "${url:-http://deb.debian.org/debian}"
}

if [[ ${FORCE:-0} != 1 ]] && docker image inspect "$image" >/dev/null 2>&1; then
	log "$image exists, not rebuilding it (FORCE=1 rebuilds it)"
	exit 0
fi

(($(id -u) == 0)) || die "debootstrap needs root: run make images as root (or with sudo)"
command -v debootstrap >/dev/null || die "debootstrap not found (apt-get install debootstrap)"

suite=${DEBIAN_SUITE:-$(host_suite)}
mirror=${DEBIAN_MIRROR:-$(host_mirror)}

# The root file system is built on disk, not in /tmp, which may be a small
# tmpfs; it is removed whatever happens.
rootfs=$(mktemp -d /var/tmp/kzoo-zookeeper-rootfs.XXXXXX)
cleanup() {
	# debootstrap mounts /proc and /sys inside the tree while it runs; a failed
	# run may leave them mounted, and rm must not descend into them.
	local mnt
	for mnt in proc sys dev/pts; do
		if mountpoint -q "$rootfs/$mnt" 2>/dev/null; then
			umount -l "$rootfs/$mnt" || true
		fi
	done
	rm -rf --one-file-system -- "$rootfs"
}
trap cleanup EXIT

log "debootstrap $suite from $mirror with ${packages[*]} (takes a few minutes)"
include=$(
	IFS=,
	printf '%s' "${packages[*]}"
)
debootstrap --variant=minbase --include="$include" "$suite" "$rootfs" "$mirror" >"$rootfs.log" 2>&1 || {
	tail -n 30 "$rootfs.log" >&2
	rm -f "$rootfs.log"
	die "debootstrap failed"
}
rm -f "$rootfs.log"

# What a container never needs: package caches and lists (the image is
# rebuilt, never upgraded in place), documentation and man pages.
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/*.bin \
	"$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/* \
	"$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/*
[[ -r $rootfs/usr/share/java/zookeeper.jar ]] || die "zookeeper.jar missing from the root file system"

log "importing the root file system as $image"
tar --numeric-owner -C "$rootfs" -c . |
	docker import \
		--change 'ENV LANG=C.UTF-8' \
		--change 'CMD ["/bin/bash"]' \
		--message "kzoo: Debian $suite minbase with ${packages[*]}" \
		- "$image" >/dev/null
log "$image built"
