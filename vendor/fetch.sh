#!/bin/sh
# Fetch Debian source packages into build/dl/ and check them.
#
#   vendor/fetch.sh NAME[/SUITE] ...          fetch (the recipes and deps.mk run this)
#   vendor/fetch.sh --sums NAME[/SUITE] ...   print what the archive offers now, with sums
#   vendor/fetch.sh --update NAME[/SUITE] ... move vendor/pins and sources.sha256 to it
#
# vendor/pins names the pinned Debian version of each package and vendor/sources.sha256 the
# SHA-256 of its files. The pinned version is asked for by number, so a newer one in the
# archive changes nothing. When the archive no longer has the pinned version, the package's
# current version (NAME/SUITE: the newest in SUITE) is taken instead, checked against the
# SHA-256 in apt's signed Sources index, and one line says so. Either way, the files used are
# written to build/dl/NAME.use ("sha256  file" lines), which the recipes read.
#
# apt runs with a private configuration under build/apt/: its own deb-src lists derived from
# this machine's Debian sources (same URIs), its own lists and caches; the system's apt state is
# not touched. NAME/trixie uses a second configuration holding only trixie (for libjwt). A
# package whose files are all in build/dl/ and verify is not fetched (no network at all).
set -eu

VENDOR=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$VENDOR/../build/dl"
BUILD=$(cd "$VENDOR/../build" && pwd)
DL=$BUILD/dl
SUMS=$VENDOR/sources.sha256
PINS=$VENDOR/pins
APT=$BUILD/apt
export LC_ALL=C # apt's messages are matched below

die() { echo "fetch.sh: $*" >&2; exit 1; }

# The pinned Debian version of package $1.
pinned_version() {
	v=$(awk -v p="$1" '$1 == p { print $2 }' "$PINS")
	[ -n "$v" ] || die "$1 is not in vendor/pins"
	echo "$v"
}

# "sha256  file" lines of package $1 in sources.sha256 (its files are NAME_VERSION...).
pinned_sums() { awk -v p="$1_" 'index($2, p) == 1' "$SUMS"; }

# Which part of a source package file $1 is: dsc, orig, debian or other.
kind() {
	case $1 in
	*.asc) echo other ;;
	*.dsc) echo dsc ;;
	*.orig.tar.*) echo orig ;;
	*.debian.tar.*) echo debian ;;
	*) echo other ;;
	esac
}

# verify_all SUMS: succeed if every "sha256  file" line of SUMS names a file in build/dl with
# that sum. A present file with another sum fails loudly: that is never a version change.
verify_all() {
	rc=0
	while read -r want f; do
		[ -n "$f" ] || continue
		[ -f "$DL/$f" ] || { rc=1; continue; }
		got=$(sha256sum "$DL/$f" | cut -d' ' -f1)
		[ "$got" = "$want" ] || die "$f: SHA-256 mismatch (got $got, expected $want).
  Delete build/dl/$f and retry; if it persists see 'Bumping a version' in vendor/README.md."
	done <<-SUMS
		$1
	SUMS
	return $rc
}

# record NAME VERSION STATE < sums: write build/dl/NAME.use (only when it changes, so make
# sees no new file for the same sources). STATE: "pinned", or "current pinned=VERSION".
record() {
	{ echo "# $1 $2 $3"; cat; } >"$DL/$1.use.tmp"
	if cmp -s "$DL/$1.use.tmp" "$DL/$1.use"; then rm -f "$DL/$1.use.tmp"; else
		mv "$DL/$1.use.tmp" "$DL/$1.use"; fi
}

# True when package $1 needs no network: its pinned files are in build/dl and verify, or an
# earlier fallback from the same pin left files that verify against apt's index.
cached() {
	sums=$(pinned_sums "$1")
	[ -n "$sums" ] || die "vendor/sources.sha256 pins no file of $1"
	pin=$(pinned_version "$1")
	if verify_all "$sums"; then
		printf '%s\n' "$sums" | record "$1" "$pin" pinned
		return 0
	fi
	[ -f "$DL/$1.use" ] &&
		head -n 1 "$DL/$1.use" | grep -q "^# $1 [^ ]* current pinned=$pin\$" &&
		verify_all "$(sed 1d "$DL/$1.use")"
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

# offer SPEC: "sha256  file" of every file apt would download for SPEC (NAME=VERSION or
# NAME[/SUITE]), from the signed Sources index; nothing is downloaded. Fails with apt's message.
offer() {
	mkdir -p "$APT/probe"
	out=$(cd "$APT/probe" && aptget source --print-uris "$1" 2>&1) || { echo "$out"; return 1; }
	printf '%s\n' "$out" | awk '$1 ~ /^\047/ && $4 ~ /^SHA256:/ {
		sub(/^SHA256:/, "", $4); print $4 "  " $2 }'
}

# download NAME SPEC < sums: apt-get source --download-only SPEC, then check that every file
# listed arrived with its sum. apt fails when a file we do not use is missing from the archive
# (e.g. libjwt's .dsc); what matters is that the listed files arrive.
download() {
	sums=$(cat)
	echo "fetch.sh: downloading $2" >&2
	(cd "$DL" && aptget source --download-only "$2") >"$APT/$1.log" 2>&1 || true
	verify_all "$sums" || { cat "$APT/$1.log" >&2
		die "$1: $(printf '%s\n' "$sums" | awk '{ print $2 }' | tr '\n' ' ')was not downloaded (apt's output above)"; }
}

# The files of the offered sums on stdin that are of the kinds package $1 pins (its .dsc,
# orig tarball, Debian tarball), so a recipe finds the same parts under new names.
same_kinds() {
	offered=$(cat)
	for k in $(pinned_sums "$1" | while read -r _ f; do kind "$f"; done); do
		line=$(printf '%s\n' "$offered" | while read -r s f; do
			[ "$(kind "$f")" = "$k" ] && echo "$s  $f"; done | head -n 1)
		[ -n "$line" ] || die "$1: the archive's version has no $k file; the recipe needs one"
		echo "$line"
	done
}

fetch() {
	name=${1%%/*}
	cached "$name" && return 0
	case $1 in */trixie) cfg=trixie ;; *) cfg=base ;; esac
	# One apt at a time in build/apt (parallel make may run several builds).
	mkdir -p "$APT" && exec 9>"$APT/lock" && flock 9
	cached "$name" && return 0
	prepare
	pin=$(pinned_version "$name")
	if offer "$name=$pin" >"$APT/$name.offer"; then
		pinned_sums "$name" | download "$name" "$name=$pin"
		pinned_sums "$name" | record "$name" "$pin" pinned
		return 0
	fi
	grep -q "Can not find version" "$APT/$name.offer" ||
		{ cat "$APT/$name.offer" >&2; die "apt-get source $name=$pin failed"; }
	# The pinned version is gone: take the archive's current one.
	offer "$1" >"$APT/$name.offer" ||
		{ cat "$APT/$name.offer" >&2; die "apt-get source $1 failed"; }
	sums=$(same_kinds "$name" <"$APT/$name.offer")
	now=$(grep '\.dsc$' "$APT/$name.offer" | sed "s/.*  ${name}_\(.*\)\.dsc$/\1/")
	[ -n "$now" ] || die "apt offers no .dsc for $1"
	echo "fetch.sh: $name $pin (pinned) is gone from the archive; using its current version $now" \
		"(checked against apt's signed index; \`make deps-update\` moves the pins)" >&2
	printf '%s\n' "$sums" | download "$name" "$name=$now"
	printf '%s\n' "$sums" | record "$name" "$now" "current pinned=$pin"
}

# update NAME[/SUITE]: move NAME's pin and sums to the version the archive offers now.
update() {
	name=${1%%/*}
	case $1 in */trixie) cfg=trixie ;; *) cfg=base ;; esac
	prepare
	offer "$1" >"$APT/$name.offer" ||
		{ cat "$APT/$name.offer" >&2; die "apt-get source $1 failed"; }
	pin=$(pinned_version "$name")
	now=$(grep '\.dsc$' "$APT/$name.offer" | sed "s/.*  ${name}_\(.*\)\.dsc$/\1/")
	[ -n "$now" ] || die "apt offers no .dsc for $1"
	if [ "$now" = "$pin" ]; then
		echo "$name $pin: current"
		return 0
	fi
	sums=$(same_kinds "$name" <"$APT/$name.offer")
	{ awk -v p="${name}_" 'index($2, p) != 1' "$SUMS"; printf '%s\n' "$sums"; } |
		sort -k2 >"$SUMS.tmp" && mv "$SUMS.tmp" "$SUMS"
	awk -v p="$name" -v v="$now" '$1 == p && !/^#/ { sub(/[^ ]+ +[^ ]+/, sprintf("%-15s %-20s", p, v)) }
		{ print }' "$PINS" >"$PINS.tmp" && mv "$PINS.tmp" "$PINS"
	echo "$name $pin -> $now"
}

[ $# -gt 0 ] || die "usage: vendor/fetch.sh [--sums | --update] NAME[/SUITE] ..."
case $1 in
--sums)
	shift
	for p in "$@"; do
		case $p in */trixie) cfg=trixie ;; *) cfg=base ;; esac
		prepare
		offer "$p" | grep -v '\.asc$' || true
	done
	;;
--update)
	shift
	for p in "$@"; do update "$p"; done
	;;
*) for p in "$@"; do fetch "$p"; done ;;
esac
