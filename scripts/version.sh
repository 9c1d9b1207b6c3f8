#!/bin/sh
# droplin's version, from the git tag (docs/releasing.md): a release tag v1.2.3 gives 1.2.3,
# a commit after it 1.2.3-4-gabc1234 (git describe), with -dirty for uncommitted changes.
# Without a release tag: 0.0.0-gabc1234; without git (a source tarball, an image build without
# --build-arg VERSION): 0.0.0-unknown. Every form is a valid image tag.
cd "$(dirname "$0")/.." || exit 1
if v=$(git describe --tags --match 'v[0-9]*' --dirty 2>/dev/null); then
	echo "${v#v}"
elif r=$(git rev-parse --short HEAD 2>/dev/null); then
	d=
	git diff --quiet HEAD -- 2>/dev/null || d=-dirty
	echo "0.0.0-g$r$d"
else
	echo 0.0.0-unknown
fi
