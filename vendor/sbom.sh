#!/bin/sh
# What a droplin binary is made of, from what the recipes built (vendor/common.sh `installed`
# writes DIR/share/droplin/sources/PACKAGE and .../licenses/PACKAGE) and vendor/pins:
#
#   vendor/sbom.sh header LIBC DIR...              C header: #define DROPLIN_LIBRARIES "..."
#   vendor/sbom.sh spdx BIN VERSION LIBC DIR...    SPDX 2.3 JSON document for the binary BIN
#   vendor/sbom.sh licenses OUT LIBC DIR...        the notices into folder OUT (the image's
#                                                  /licenses, docs/third-party/)
#
# LIBC is the C library linked (musl, or glibc for the debug variant): its version is the
# installed Debian package's (musl-dev, libc6-dev). The CA anchors compiled into droplin come
# from Debian's ca-certificates (Mozilla's list). DIR: build/deps/musl, then
# build/deps/musl-openssl for the TLS variant (a package in a later DIR wins).
set -eu
VENDOR=$(cd "$(dirname "$0")" && pwd)
PINS=$VENDOR/pins
die() { echo "sbom.sh: $*" >&2; exit 1; }

mode=${1:-}
[ $# -ge 3 ] || die "usage: sbom.sh header|spdx|licenses ..."
shift
case $mode in
header) libc=$1; shift ;;
spdx) bin=$1 version=$2 libc=$3; shift 3 ;;
licenses) out=$1 libc=$2; shift 2 ;;
*) die "unknown mode $mode" ;;
esac

deb_version() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo unknown; }
# upstream VERSION: the Debian version without epoch, revision and repack suffix.
upstream() { echo "$1" | sed 's/^[0-9]*://; s/-[^-]*$//; s/[+~]dfsg.*//; s/[+~]ds.*//'; }
# field PACKAGE N: column N of the package's line in vendor/pins.
field() { awk -v p="$1" -v n="$2" '$1 == p { print $n }' "$PINS"; }

# The source packages built, in vendor/pins order, each with the record file that says which
# version (the last DIR that has one).
records() {
	for p in $(awk '!/^#/ && NF { print $1 }' "$PINS"); do
		rec=
		for d in "$@"; do
			[ -f "$d/share/droplin/sources/$p" ] && rec=$d/share/droplin/sources/$p
		done
		[ -n "$rec" ] && echo "$p $rec"
	done
	return 0
}

# One line per component: COMPONENT|VERSION|DEBIAN-VERSION|LICENCE|NOTE|PACKAGE|RECORD
components() {
	case $libc in
	musl) lv=$(deb_version musl-dev) ;;
	glibc) lv=$(deb_version libc6-dev) ;;
	*) die "LIBC is musl or glibc" ;;
	esac
	[ "$libc" = musl ] || echo "glibc|$(upstream "$lv")|$lv|LGPL-2.1-or-later|the C library of the debug build only|glibc|"
	records "$@" | while read -r p rec; do
		v=$(sed -n '1s/^# [^ ]* \([^ ]*\).*/\1/p' "$rec")
		note=
		if sed -n 1p "$rec" | grep -q ' current pinned='; then
			note="not the pinned $(sed -n '1s/.*pinned=//p' "$rec"), which the archive no longer had"
		fi
		if [ "$p" = musl ] && [ "$libc" = musl ] && [ "$lv" != "$v" ]; then
			note="libc from musl-dev $lv${note:+; }$note"
		fi
		[ "$p" = musl ] && [ "$libc" = glibc ] && note="crypt only${note:+; }$note"
		echo "$(field "$p" 3)|$(upstream "$v")|$v|$(field "$p" 4)|$note|$p|$rec"
	done
	ca=$(deb_version ca-certificates)
	echo "Mozilla CA certificates|$(echo "$ca" | sed "s/[+~].*//")|$ca|MPL-2.0|trust anchors compiled in|ca-certificates|"
}

header() {
	echo "/* Made by vendor/sbom.sh from what the recipes built. Do not edit. */"
	printf '#define DROPLIN_LIBRARIES \\\n'
	components "$@" | while IFS='|' read -r c v dv lic note _p _r _h; do
		printf '\t"%s %s (Debian %s%s), %s\\n" \\\n' "$c" "$v" "$dv" "${note:+; $note}" "$lic"
	done
	printf '\t""\n'
}

spdx() {
	[ -f "$bin" ] || die "no binary $bin"
	name=$(basename "$bin")
	sum=$(sha256sum "$bin" | cut -d' ' -f1)
	created=$(date -u ${SOURCE_DATE_EPOCH:+-d "@$SOURCE_DATE_EPOCH"} +%Y-%m-%dT%H:%M:%SZ)
	printf '{\n  "spdxVersion": "SPDX-2.3",\n  "dataLicense": "CC0-1.0",\n'
	printf '  "SPDXID": "SPDXRef-DOCUMENT",\n  "name": "%s %s",\n' "$name" "$version"
	printf '  "documentNamespace": "urn:spdx:%s-%s-%s",\n' "$name" "$version" "$sum"
	printf '  "creationInfo": {"created": "%s", "creators": ["Tool: droplin vendor/sbom.sh"]},\n' "$created"
	printf '  "documentDescribes": ["SPDXRef-droplin"],\n  "packages": [\n'
	printf '    {"SPDXID": "SPDXRef-droplin", "name": "droplin", "versionInfo": "%s",\n' "$version"
	printf '     "downloadLocation": "NOASSERTION", "filesAnalyzed": false,\n'
	printf '     "packageFileName": "%s", "checksums": [{"algorithm": "SHA256", "checksumValue": "%s"}],\n' "$name" "$sum"
	printf '     "licenseConcluded": "MIT", "licenseDeclared": "MIT", "copyrightText": "NOASSERTION",\n'
	printf '     "primaryPackagePurpose": "APPLICATION"}'
	components "$@" | while IFS='|' read -r c v dv lic note p rec; do
		id=SPDXRef-$(echo "$c" | tr -c 'A-Za-z0-9\n' '-')
		purl=pkg:deb/debian/$p@$(echo "$dv" | sed 's/+/%2B/g; s/~/%7E/g; s/:/%3A/g')?arch=source
		orig=
		[ -z "$rec" ] || orig=$(awk 'NR > 1 && $2 ~ /\.orig\.tar\./ && $2 !~ /\.asc$/ { print $1; exit }' "$rec")
		printf ',\n    {"SPDXID": "%s", "name": "%s", "versionInfo": "%s",\n' "$id" "$c" "$v"
		printf '     "supplier": "Organization: Debian", "downloadLocation": "NOASSERTION",'
		printf ' "filesAnalyzed": false,\n'
		[ -z "$orig" ] || printf '     "checksums": [{"algorithm": "SHA256", "checksumValue": "%s"}],\n' "$orig"
		printf '     "licenseConcluded": "%s", "licenseDeclared": "%s", "copyrightText": "NOASSERTION",\n' "$lic" "$lic"
		printf '     "comment": "Debian source package %s %s%s",\n' "$p" "$dv" "${note:+; $note}"
		printf '     "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": "%s"}]}' "$purl"
	done
	printf '\n  ],\n  "relationships": [\n'
	printf '    {"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES", "relatedSpdxElement": "SPDXRef-droplin"}'
	components "$@" | while IFS='|' read -r c _rest; do
		id=SPDXRef-$(echo "$c" | tr -c 'A-Za-z0-9\n' '-')
		rel=STATIC_LINK
		[ "$c" != "Mozilla CA certificates" ] || rel=CONTAINS
		printf ',\n    {"spdxElementId": "SPDXRef-droplin", "relationshipType": "%s", "relatedSpdxElement": "%s"}' "$rel" "$id"
	done
	printf '\n  ]\n}\n'
}

# The notice of each component, as the upstream source ships it (the CA list's and the C
# library's from their Debian packages), and droplin's own LICENSE.
licenses() {
	rm -rf "$out" && mkdir -p "$out"
	cp "$VENDOR/../LICENSE" "$out/droplin.txt"
	components "$@" | while IFS='|' read -r c v dv lic _n p rec _h; do
		f=$out/$(echo "$c" | tr 'A-Z ' 'a-z-').txt
		if [ -n "$rec" ]; then
			src=$(dirname "$(dirname "$rec")")/licenses/$p
		elif [ "$p" = glibc ]; then
			src=/usr/share/doc/libc6-dev/copyright
		else
			src=/usr/share/doc/$p/copyright
		fi
		[ -f "$src" ] || die "no notice for $c ($src)"
		{ echo "$c $v (Debian source package $p $dv), licence $lic"; echo; cat "$src"; } >"$f"
	done
}

case $mode in
header) header "$@" ;;
spdx) spdx "$@" ;;
licenses) licenses "$@" ;;
esac
