#!/bin/sh
# Build droplin's scratch image with Debian's podman/buildah, no registry needed.
#
#   tests/image/image.sh setup    install podman, buildah, runc, debootstrap; write the config
#   tests/image/image.sh base     the debian:bookworm base (debootstrap minbase + podman import),
#                                 made once and cached under build/image/
#   tests/image/image.sh build    base + `podman build` of the Containerfile -> localhost/droplin,
#                                 tagged latest and with the version (scripts/version.sh)
#   tests/image/image.sh podman ARGS...   podman with this folder's storage and configuration
#
# Everything lives under build/image/: containers.conf (CONTAINERS_CONF), storage (--root,
# --runroot) and the base's root file system tarball. The system's container storage and
# configuration are never touched. Settings measured on Debian 12 build machines:
# runtime runc (crun refuses hybrid cgroups), cgroupfs, and ulimits a host without unlimited
# resources allows; builds use --isolation chroot and --format docker (HEALTHCHECK survives only
# in the docker format).
set -eu

REPO=$(cd "$(dirname "$0")/../.." && pwd)
IMG=${IMAGE_DIR:-$REPO/build/image}
# DB_TLS=openssl builds the TLS variant (Containerfile's DB_TLS) as localhost/droplin-openssl
DB_TLS=${DB_TLS:-}
REPO_NAME=${IMAGE_NAME:-localhost/droplin${DB_TLS:+-$DB_TLS}}
IMAGE=$REPO_NAME:latest
BASE=localhost/debian:bookworm
mkdir -p "$IMG"

say() { echo "image: $*" >&2; }
die() { echo "image: $*" >&2; exit 1; }

export CONTAINERS_CONF="$IMG/containers.conf"
export CONTAINERS_REGISTRIES_CONF="$IMG/registries.conf"

pm() {
	podman --root "$IMG/storage" --runroot "$IMG/run" --storage-driver overlay "$@"
}

setup() {
	missing=
	for p in podman buildah runc debootstrap uidmap; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' ||
			missing="$missing $p"
	done
	if [ -n "$missing" ]; then
		[ "$(id -u)" -eq 0 ] || die "missing packages:$missing (run as root)"
		say "installing$missing"
		export DEBIAN_FRONTEND=noninteractive
		# shellcheck disable=SC2086  # a list of package names
		apt-get install -y -qq --no-install-recommends $missing >/dev/null 2>&1 ||
			{ apt-get update -qq && apt-get install -y -qq --no-install-recommends $missing >/dev/null; }
	fi
	cat >"$IMG/containers.conf.tmp" <<-'CONF'
		# tests/image/image.sh: podman and buildah for droplin's image (see docs/railway.md)
		[containers]
		default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
		netns = "none"
		[engine]
		runtime = "runc"
		cgroup_manager = "cgroupfs"
		events_logger = "file"
	CONF
	mv "$IMG/containers.conf.tmp" "$CONTAINERS_CONF"
	# No registry is reachable; only local images are used.
	printf 'unqualified-search-registries = []\nshort-name-mode = "permissive"\n' \
		>"$CONTAINERS_REGISTRIES_CONF"
	mkdir -p "$IMG/storage" "$IMG/run"
}

# The machine's Debian archive, as apt knows it (the first URI serving bookworm).
mirror() {
	{
		for f in /etc/apt/sources.list.d/*.sources; do [ -f "$f" ] && cat "$f" && echo; done
		[ -f /etc/apt/sources.list ] &&
			awk '$1 == "deb" { i = 2; if ($2 ~ /^\[/) while ($i !~ /\]$/) i++;
				if ($2 ~ /^\[/) i++; print "URIs: " $i; print "Suites: " $(i + 1); print "" }' \
				/etc/apt/sources.list
	} | awk '
		/^[ \t]*$/ { if (u != "" && s ~ /(^| )bookworm( |$)/ && !found) { print u; found = 1 }
			u = s = ""; next }
		$1 == "URIs:" { u = $2 } $1 == "Suites:" { $1 = ""; s = $0 }
		END { if (u != "" && s ~ /(^| )bookworm( |$)/ && !found) print u }'
}

base() {
	if pm image exists "$BASE" 2>/dev/null; then
		return 0
	fi
	tarball=$IMG/bookworm-minbase.tar
	if [ ! -s "$tarball" ]; then
		url=$(mirror)
		[ -n "$url" ] || die "no Debian bookworm source in /etc/apt"
		say "debootstrap --variant=minbase bookworm (once; cached in $tarball)"
		rootfs=$IMG/rootfs.tmp
		rm -rf "$rootfs"
		t0=$(date +%s)
		debootstrap --variant=minbase bookworm "$rootfs" "$url" >"$IMG/debootstrap.log" 2>&1 ||
			{ tail -n 20 "$IMG/debootstrap.log" >&2; die "debootstrap failed"; }
		# The build stage uses the machine's own apt sources (the archive this project reaches).
		rm -f "$rootfs/etc/apt/sources.list"
		for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list; do
			[ -f "$f" ] && cp "$f" "$rootfs$f"
		done
		rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*_Packages
		tar -C "$rootfs" --numeric-owner -cf "$tarball.tmp" .
		mv "$tarball.tmp" "$tarball"
		rm -rf "$rootfs"
		say "debootstrap took $(($(date +%s) - t0)) s"
	fi
	pm import --quiet "$tarball" "$BASE" >/dev/null
}

build() {
	# The context needs nothing but the clone: build/dl/, when `make` has filled it, only saves
	# the download. Docker reads .dockerignore, podman .containerignore: they must agree.
	[ "$(grep -v '^#' "$REPO/.containerignore")" = "$(grep -v '^#' "$REPO/.dockerignore")" ] ||
		die ".containerignore and .dockerignore differ"
	version=${VERSION:-$(sh "$REPO/scripts/version.sh")}
	t0=$(date +%s)
	pm build --pull=never --isolation chroot --format docker --layers \
		--build-arg JOBS="$(nproc)" --build-arg DB_TLS="$DB_TLS" \
		--build-arg VERSION="$version" -t "$IMAGE" -t "$REPO_NAME:$version" \
		-f "$REPO/Containerfile" "$REPO" >&2
	say "built $IMAGE and $REPO_NAME:$version in $(($(date +%s) - t0)) s"
}

cmd=${1:-build}
[ $# -eq 0 ] || shift
case $cmd in
setup) setup ;;
base) setup && base ;;
build) setup && base && build ;;
podman) pm "$@" ;;
*) die "usage: image.sh setup|base|build|podman ARGS..." ;;
esac
