#!/usr/bin/env bash
# run-tests.sh: run Strata's unit tests, then the iotests for each image
# format in IOTEST_FORMATS, and total them.
#
#   scripts/run-tests.sh [BUILD_DIR] [CHECK-ARGS...]
#
# CHECK-ARGS go to every tests/qemu-iotests/check run (for example
# "-g quick", or "--qemu" to run the iotests against Debian's QEMU).
# BUILD_DIR (default: build) is the meson build directory.
# The very last line is always "N passed, M failed" (unit tests plus
# iotests; iotests that were not run count as neither), and the exit
# status is non-zero if anything failed.

# Formats the iotests run with; add vmdk as its driver lands.
IOTEST_FORMATS=${IOTEST_FORMATS:-"raw qcow2"}

cd "$(dirname "$0")/.." || exit 1
BUILD_DIR=${BUILD_DIR:-build}
# A meson build directory as the first argument (as "make check" passes it).
if [ $# -gt 0 ] && [ -f "$1/build.ninja" ]; then
    BUILD_DIR=$1
    shift
fi

passed=0
failed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# value_of LABEL FILE: the number after "LABEL:" in meson's summary.
value_of()
{
    sed -n -E "s/^$1:[[:space:]]+([0-9]+)[[:space:]]*$/\\1/p" "$2" | tail -n 1
}

echo "=== Unit tests (meson test --suite unit) ==="
meson test -C "$BUILD_DIR" --suite unit --print-errorlogs 2>&1 | tee "$log"
meson_status=${PIPESTATUS[0]}
ok=$(value_of 'Ok' "$log")
xfail=$(value_of 'Expected Fail' "$log")
fail=$(value_of 'Fail' "$log")
xpass=$(value_of 'Unexpected Pass' "$log")
timeout=$(value_of 'Timeout' "$log")
if [ -n "$ok" ]; then
    unit_passed=$(( ok + ${xfail:-0} ))
    unit_failed=$(( ${fail:-0} + ${xpass:-0} + ${timeout:-0} ))
elif grep -q 'No suitable tests defined' "$log" && [ "$meson_status" -eq 0 ]; then
    unit_passed=0
    unit_failed=0
else
    # meson could not build or run the tests at all: count that as one failure.
    echo "run-tests.sh: meson test did not produce a summary (exit $meson_status)"
    unit_passed=0
    unit_failed=1
fi
if [ "$meson_status" -ne 0 ] && [ "$unit_failed" -eq 0 ]; then
    unit_failed=1
fi
echo "unit tests: $unit_passed passed, $unit_failed failed"
passed=$(( passed + unit_passed ))
failed=$(( failed + unit_failed ))

for fmt in $IOTEST_FORMATS; do
    echo
    echo "=== iotests, -$fmt ==="
    tests/qemu-iotests/check --build "$BUILD_DIR" "-$fmt" "$@" 2>&1 | tee "$log"
    summary=$(tail -n 1 "$log")
    if [[ "$summary" =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
        passed=$(( passed + BASH_REMATCH[1] ))
        failed=$(( failed + BASH_REMATCH[2] ))
    else
        echo "run-tests.sh: check -$fmt did not finish with a summary line"
        failed=$(( failed + 1 ))
    fi
done

echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
