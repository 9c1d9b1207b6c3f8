#!/bin/sh
# Mutants of droplin.c, each standing for a false green of issue 18: the test that was fixed
# must FAIL against a droplin changed to misbehave in that way. Not part of `make test` (a build
# and a test run each, about a minute apiece); run it when a test of this list changes:
#
#   sh tests/mutants/run.sh              # every mutant
#   sh tests/mutants/run.sh NAME ...     # some (NAME: a file tests/mutants/NAME.mut)
#
# A NAME.mut file: comment lines (what the mutant stands for), one `test:` line (pytest
# arguments, from the repository root), one or more `sed:` lines (expressions applied, in order,
# to a scratch copy of droplin.c; each must change it), and `clone: yes` to run the test in a
# fresh clone under /tmp (no shared/spec beside it). The mutant is built into /tmp with musl-gcc
# (not hardened, not the shipped build); the shipped droplin.c is never touched.
# Exit 0 when every mutant was caught (its test failed); 1 when one was missed or broke.
set -eu

REPO=$(cd "$(dirname "$0")/../.." && pwd)
DIR="$REPO/tests/mutants"
WORK=$(mktemp -d /tmp/droplin-mutants-XXXXXX)
PYTEST="/usr/bin/python3 -m pytest -q -p no:cacheprovider"
cd "$REPO"
make -s build/gen/embedded.h

if [ $# -eq 0 ]; then
	set -- $(cd "$DIR" && ls *.mut | sed 's/\.mut$//')
fi

build() { # scratch.c binary
	musl-gcc -std=gnu11 -O2 -w -isystem build/deps/musl/include -Ibuild/gen -o "$2" "$1" -static -s \
		-Lbuild/deps/musl/lib -lcurl -lpq -lpgcommon_shlib -lpgport_shlib -ljwt -ljansson -lbearssl \
		-ldcrypt
}

caught=0
bad=0
for name in "$@"; do
	mut="$DIR/$name.mut"
	[ -f "$mut" ] || { echo "mutant $name: no $mut"; bad=$((bad + 1)); continue; }
	src="$WORK/$name.c"
	bin="$WORK/droplin-$name"
	cp droplin.c "$src"
	broken=
	while IFS= read -r line; do
		case $line in
		sed:*)
			expr=${line#sed: }
			cp "$src" "$src.before"
			sed -i -e "$expr" "$src"
			if cmp -s "$src" "$src.before"; then
				broken="sed changed nothing: $expr"
				break
			fi
			;;
		esac
	done <"$mut"
	if [ -n "$broken" ]; then
		echo "mutant $name: BROKEN ($broken)"
		bad=$((bad + 1))
		continue
	fi
	if ! build "$src" "$bin" >"$WORK/$name.build.log" 2>&1; then
		echo "mutant $name: BROKEN (does not build; $WORK/$name.build.log)"
		bad=$((bad + 1))
		continue
	fi
	args=$(sed -n 's/^test: //p' "$mut")
	root=$REPO
	if grep -q '^clone: yes' "$mut"; then
		root="$WORK/clone-$name"
		git clone -q "$REPO" "$root"
		[ ! -e "$(dirname "$root")/shared" ] || { echo "mutant $name: BROKEN ($WORK/shared exists)"; bad=$((bad + 1)); continue; }
	fi
	log="$WORK/$name.test.log"
	rc=0
	(cd "$root" && eval "DROPLIN_BIN=$bin $PYTEST $args") >"$log" 2>&1 || rc=$?
	summary=$(tail -n 1 "$log")
	if [ "$rc" = 1 ]; then
		echo "mutant $name: caught by $args ($summary)"
		caught=$((caught + 1))
	elif [ "$rc" = 0 ]; then
		echo "mutant $name: MISSED: $args passed ($summary; $log)"
		bad=$((bad + 1))
	else
		echo "mutant $name: BROKEN: pytest exit $rc for $args ($summary; $log)"
		bad=$((bad + 1))
	fi
done
echo "mutants: $caught caught, $bad missed or broken (logs in $WORK)"
[ "$bad" = 0 ]
