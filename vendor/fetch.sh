#!/bin/sh
# Fetch Debian source packages into build/dl/ and check them against
# vendor/sources.sha256.  Usage: vendor/fetch.sh [--sums] NAME[/SUITE] ...
#
# apt runs with a private configuration under build/apt/: its own deb-src
# lists derived from this machine's Debian sources (same URIs), its own lists
# and caches; the system's apt state is not touched.  NAME alone takes the
# newest version in the machine's suites (bookworm, -updates, -security);
# NAME/trixie uses a second configuration holding only trixie (for libjwt).
# A package whose pinned files are all in build/dl/ and verify is not fetched.
set -eu

VENDOR=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$VENDOR/../build/dl"
BUILD=$(cd "$VENDOR/../build" && pwd)
DL=$BUILD/dl
SUMS=$VENDOR/sources.sha256
APT=$BUILD/apt

die() { echo "fetch.sh: $*" >&2; exit 1; }

# Print the pinned sum of file $1, or nothing.
pinned() { awk -v f="$1" '$2 == f { print $1 }' "$SUMS"; }

# Succeed if $1 in build/dl matches its pinned sum; fail loudly on mismatch.
verify() {
	want=$(pinned "$1")
	got=$(sha256sum "$DL/$1" | cut -d' ' -f1)
	[ "$got" = "$want" ] || die "$1: SHA-256 mismatch (got $got, pinned $want).
  Delete build/dl/$1 and retry; if it persists see 'Bumping a version' in vendor/README.md."
}

# Pinned files of source package $1 (sources.sha256 lists NAME_VERSION...).
pinned_files() { awk -v p="$1_" 'index($2, p) == 1 { print $2 }' "$SUMS"; }

# True if every pinned file of package $1 is present and verifies.
cached() {
	files=$(pinned_files "$1")
	[ -n "$files" ] || return 1
	for f in $files; do [ -f "$DL/$f" ] || return 1; done
	for f in $files; do verify "$f"; done
}

# Print deb-src stanzas derived from the machine's own sources: same URIs,
# suites and keys.  With $1 = trixie, one trixie stanza from the main archive.
derive_sources() {
	{
		for f in /etc/apt/sources.list.d/*.sources; do
			[ -f "$f" ] && cat "$f" && echo
		done
		# One-line format: "deb [opts] URI SUITE COMPONENTS...".
		[ -f /etc/apt/sources.list ] && awk '$1 == "deb" && $2 !~ /^\[/ {
			printf "Types: deb\nURIs: %s\nSuites: %s\nComponents:", $2, $3
			for (i = 4; i <= NF; i++) printf " %s", $i
			print "\n" }' /etc/apt/sources.list
	} | awk -v want="$1" '
		function flush() {
			if (uris != "" && types ~ /(^| )deb( |$)/) {
				if (want == "") stanza(suites, comps)
				else if (suites ~ /(^| )bookworm( |$)/ && !done++)
					stanza(want, "main")
			}
			types = uris = suites = comps = signed = ""
		}
		function stanza(s, c) {
			print "Types: deb-src\nURIs: " uris "\nSuites: " s "\nComponents: " c
			if (signed != "") print "Signed-By: " signed
			print ""
		}
		/^[ \t]*$/ { flush(); next }
		/^#/ { next }
		{ key = $1; sub(/^[^:]*:[ \t]*/, "") }
		key == "Types:" { types = $0 }
		key == "URIs:" { uris = $0 }
		key == "Suites:" { suites = $0 }
		key == "Components:" { comps = $0 }
		key == "Signed-By:" { signed = $0 }
		END { flush() }
	'
}

# apt-get with the private configuration $APT/$cfg ("base" or "trixie").
aptget() {
	d=$APT/$cfg
	apt-get -q \
		-o Dir::Etc::SourceList="$d/none.list" \
		-o Dir::Etc::SourceParts="$d/parts" \
		-o Dir::Etc::Preferences="$d/none.pref" \
		-o Dir::Etc::PreferencesParts="$d/parts" \
		-o Dir::State::Lists="$d/lists" \
		-o Dir::State::Status=/dev/null \
		-o Dir::Cache="$d/cache" \
		-o Debug::NoLocking=1 \
		-o APT::Sandbox::User=root \
		"$@"
}

# Create and update configuration $cfg once per run.
updated=
locked=
prepare() {
	case " $updated " in *" $cfg "*) return 0 ;; esac
	d=$APT/$cfg
	mkdir -p "$d/parts" "$d/lists/partial" "$d/cache/archives/partial"
	want=; [ "$cfg" = base ] || want=$cfg
	derive_sources "$want" >"$d/parts/droplin.sources"
	[ -s "$d/parts/droplin.sources" ] || die "no Debian sources found in /etc/apt"
	aptget update >"$d/update.log" 2>&1 ||
		{ cat "$d/update.log" >&2; die "apt-get update failed"; }
	updated="$updated $cfg"
}

fetch() {
	name=${1%%/*}
	if cached "$name"; then return 0; fi
	case $1 in */trixie) cfg=trixie ;; *) cfg=base ;; esac
	# One apt at a time in build/apt (parallel make may run several builds).
	if [ -z "$locked" ]; then
		mkdir -p "$APT" && exec 9>"$APT/lock" && flock 9
		locked=1
		if cached "$name"; then return 0; fi
	fi
	prepare
	# apt must offer exactly the pinned files (the .dsc names the version).
	# (run where nothing is downloaded: apt omits files already present)
	mkdir -p "$APT/probe"
	uris=$(cd "$APT/probe" && aptget source --print-uris "$1" 2>&1) ||
		die "apt-get source $1 failed: $uris"
	offered=$(printf '%s\n' "$uris" | awk '$1 ~ /^\047/ { print $2 }')
	for f in $(pinned_files "$name"); do
		printf '%s\n' "$offered" | grep -qxF "$f" || die "apt offers
$(printf '%s\n' "$offered" | grep -v '\.asc$' | sed 's/^/    /')
  for $1, but vendor/sources.sha256 pins $f.
  Unknown version: review it, then follow 'Bumping a version' in vendor/README.md."
	done
	# apt fails when a file we do not use is missing from the archive (e.g.
	# libjwt's .dsc); what matters is that every pinned file arrives.
	echo "fetch.sh: downloading $1" >&2
	(cd "$DL" && aptget source --download-only "$1") >"$APT/$name.log" 2>&1 ||
		true
	for f in $(pinned_files "$name"); do
		[ -f "$DL/$f" ] || { cat "$APT/$name.log" >&2
			die "$f was not downloaded (apt's output above)"; }
		verify "$f"
	done
}

# --sums: print "sha256  file" for what apt offers now (from the signed
# Sources index), for reviewing a bump; nothing is downloaded.
sums() {
	case $1 in */trixie) cfg=trixie ;; *) cfg=base ;; esac
	mkdir -p "$APT/probe"
	prepare
	(cd "$APT/probe" && aptget source --print-uris "$1" 2>/dev/null) |
		awk '$1 ~ /^\047/ && $2 !~ /\.asc$/ {
			sub(/^SHA256:/, "", $4); print $4 "  " $2 }'
}

[ $# -gt 0 ] || die "usage: vendor/fetch.sh [--sums] NAME[/SUITE] ..."
if [ "$1" = --sums ]; then
	shift
	for p in "$@"; do sums "$p"; done
	exit 0
fi
for p in "$@"; do fetch "$p"; done
