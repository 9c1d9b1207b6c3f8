#!/bin/sh
# Runs the libFuzzer targets built by tests/fuzz/fuzz.mk (from the repository root):
#   tests/fuzz/run.sh fuzz SECONDS TARGET...  fuzz each target for SECONDS and print its
#       executions; new inputs go to build/fuzz/corpus/TARGET, crash inputs to
#       tests/fuzz/crashes/TARGET/ (fix the bug, then commit the input as a regression test)
#   tests/fuzz/run.sh regress TARGET...       run every input of tests/fuzz/corpus/TARGET/ and
#       tests/fuzz/crashes/TARGET/ once, without fuzzing
# Fails when any target crashes, leaks, times out or breaks one of its checked properties.
set -eu
mode=$1
shift
[ "$mode" = fuzz ] && { seconds=$1; shift; }
bin=build/fuzz
ASAN_SYMBOLIZER_PATH=${ASAN_SYMBOLIZER_PATH:-/usr/lib/llvm-14/bin/llvm-symbolizer}
export ASAN_SYMBOLIZER_PATH
failed=

stat() { sed -n "s/^stat::$1: *//p" "$2" | tail -n 1; }

fail() {
	echo "fuzz: $1 FAILED (full output: $2)"
	grep -E '^(Running:|==[0-9]+==ERROR|SUMMARY|artifact_prefix|Test unit written)|property failed' \
		"$2" | head -n 20 | sed 's/^/  /'
	failed="$failed $1"
}

for t in "$@"; do
	log=$bin/$t.$mode.log
	if [ "$mode" = regress ]; then
		inputs=$(find "tests/fuzz/corpus/$t" "tests/fuzz/crashes/$t" -type f ! -name .gitkeep | sort)
		n=$(echo "$inputs" | grep -c . || true)
		# shellcheck disable=SC2086  # one argument per input file (names have no spaces)
		if "$bin/$t" $inputs >"$log" 2>&1; then
			printf 'fuzz-regress: %-10s %4d inputs ok\n' "$t" "$n"
		else
			fail "$t" "$log"
		fi
		continue
	fi
	mkdir -p "$bin/corpus/$t" "tests/fuzz/crashes/$t"
	max_len=4096
	[ "$t" = http_head ] && max_len=20000 # past the 16 KiB head limit
	if "$bin/$t" -max_total_time="$seconds" -print_final_stats=1 -timeout=10 \
		-max_len="$max_len" -artifact_prefix="tests/fuzz/crashes/$t/" \
		"$bin/corpus/$t" "tests/fuzz/corpus/$t" >"$log" 2>&1; then
		result=ok
	else
		result=FAILED
	fi
	execs=$(stat number_of_executed_units "$log")
	rate=$(stat average_exec_per_sec "$log")
	corpus=$(find "$bin/corpus/$t" -type f | wc -l)
	printf 'fuzz: %-10s %5ss %12s execs %8s exec/s %6s new corpus inputs  %s\n' \
		"$t" "$seconds" "${execs:-?}" "${rate:-?}" "$corpus" "$result"
	[ "$result" = ok ] || fail "$t" "$log"
done
[ -z "$failed" ] || { echo "fuzz: failed:$failed"; exit 1; }
