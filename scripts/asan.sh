#!/usr/bin/env bash
# Runs the test suites under AddressSanitizer and LeakSanitizer.
#
# valgrind (in CI) checks that shutdown leaks nothing; this checks every test: a use after
# free, a double free or an out-of-bounds access in the unsafe code (task cells and their
# reference counts, the waiter lists, the reactor's registrations, the timer wheel) stops
# the test with a report, and each test binary's leaks are listed when it exits.
#
#   scripts/asan.sh [CRATE...]
#
# Default: every crate except the benchmarks. Needs a nightly toolchain (`-Zsanitizer` is
# unstable; `ASAN_TOOLCHAIN` names it, default `nightly`), so CI, which builds with stable,
# does not run it. The build goes to `target/asan` (or `$CARGO_TARGET_DIR`) and takes about
# 15 minutes on two cores.
#
# Left out, because they measure what the sanitizer changes rather than what it checks:
# the tests that build and run the examples (`examples.rs`: a second, uninstrumented build),
# and the tests that bound the process's resident memory (ASan keeps freed memory in
# quarantine, so RSS does not come back).
set -euo pipefail
cd "$(dirname "$0")/.."

toolchain=${ASAN_TOOLCHAIN:-nightly}
host=$(rustc "+$toolchain" -vV | sed -n 's/^host: //p')
export RUSTFLAGS="-Zsanitizer=address"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target/asan}
export CARGO_INCREMENTAL=0
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/scripts/lsan.supp:print_suppressions=0}

crates=("$@")
if [ ${#crates[@]} -eq 0 ]; then
    crates=(ciranda-scheduler ciranda-sync ciranda-reactor ciranda ciranda-tests ciranda-http)
fi

rss_tests=(
    a_slow_reader_makes_the_writer_wait_and_memory_stays_bounded
    a_hundred_thousand_dropped_waits_on_idle_sockets_leave_no_waker_and_no_memory
    one_million_timers_armed_at_once_memory_returns_while_the_runtime_lives
    one_million_timers_on_the_real_clock_fire_once_none_early_and_memory_returns
    timers_armed_all_at_once_fire_once_and_memory_returns_with_the_runtime
)
skips=()
for name in "${rss_tests[@]}"; do
    skips+=(--skip "$name")
done

# A crate's test targets: its unit tests and every integration test but `examples`.
targets_of() {
    local dir
    case "$1" in
        ciranda-tests) dir=tests/tests ;;
        *) dir=crates/$1/tests ;;
    esac
    echo --lib
    for file in "$dir"/*.rs; do
        [ -e "$file" ] || continue
        local name
        name=$(basename "$file" .rs)
        [ "$name" = examples ] && continue
        echo --test "$name"
    done
}

failed=()
for crate in "${crates[@]}"; do
    # shellcheck disable=SC2046 # one word per flag and target name
    if ! cargo "+$toolchain" test --target "$host" -p "$crate" --no-fail-fast \
        $(targets_of "$crate") -- "${skips[@]}"; then
        failed+=("$crate")
    fi
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "asan: failures in ${failed[*]}" >&2
    exit 1
fi
echo "asan: every suite passed with no sanitizer report"
