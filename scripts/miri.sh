#!/usr/bin/env bash
# Runs the suites that drive the unsafe code of the scheduler and of the sync primitives
# under Miri, which checks every access against Rust's aliasing and memory models: an access
# through a pointer that may not reach the memory (provenance), a data race between a plain
# write and a read (from the memory model, not from the hardware's behaviour), a use after
# free, an arithmetic overflow in a debug assertion of a rarely taken branch.
#
#   scripts/miri.sh [SUITE...]
#
# SUITE is `crate:test-target` or `crate:lib`. Default: the scheduler's unit tests and its
# task, blocking, shutdown, unhandled-panic, observability (the task listing and dump) and
# parking-hook tests, and the sync crate's unit tests and the primitives' tests. Needs a nightly toolchain with the `miri` component (`MIRI_TOOLCHAIN`
# names it, default `nightly`; the script tries `rustup component add` once if it is
# missing). Builds into `target/miri` (or `$CARGO_TARGET_DIR`).
#
# Flags, and why:
# * the scheduler runs under Tree Borrows: crossbeam-epoch (under the deque) breaks Stacked
#   Borrows' rules in its own code before our tests get far, and its global collector keeps
#   garbage at exit, which Miri's leak check reports (so leaks are not checked there:
#   valgrind and `scripts/asan.sh` do); the sync crate, which has no such dependency, runs
#   under the stricter Stacked Borrows, leak check on;
# * `-Zmiri-disable-isolation`: the runtime reads the real clock and the host's parallelism;
# * `-Zmiri-compare-exchange-weak-failure-rate=0`: Miri makes `compare_exchange_weak` fail
#   spuriously, which crossbeam's injector reports as contention, so a pull takes a smaller
#   batch than the queue tests' exact counts (correct, and rare on real hardware).
set -euo pipefail
cd "$(dirname "$0")/.."

toolchain=${MIRI_TOOLCHAIN:-nightly}
if ! cargo "+$toolchain" miri --version >/dev/null 2>&1; then
    rustup component add --toolchain "$toolchain" miri rust-src
fi
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target/miri}
export CARGO_INCREMENTAL=0
# Interpreted, a panic's backtrace takes long enough to capture that a test waiting with a
# wall-clock bound for a panic to be reported (`unhandled_panic_goes_to_the_hook`, 10 s)
# can run out when the caller's environment asks for backtraces.
export RUST_BACKTRACE=0

suites=("$@")
if [ ${#suites[@]} -eq 0 ]; then
    suites=(ciranda-scheduler:lib ciranda-scheduler:tasks ciranda-scheduler:blocking
        ciranda-scheduler:shutdown ciranda-scheduler:unhandled_panic ciranda-scheduler:observe
        ciranda-scheduler:hook_wakes ciranda-sync:lib)
    for test in barrier condition event mpsc mutex notify oneshot promise queue rwlock semaphore; do
        suites+=("ciranda-sync:$test")
    done
fi

common_flags="-Zmiri-disable-isolation -Zmiri-compare-exchange-weak-failure-rate=0"
failed=()
for suite in "${suites[@]}"; do
    crate=${suite%%:*} target=${suite#*:}
    if [ "$target" = lib ]; then args=(--lib); else args=(--test "$target"); fi
    flags=$common_flags
    [ "$crate" = ciranda-scheduler ] && flags="$flags -Zmiri-tree-borrows -Zmiri-ignore-leaks"
    echo "== miri: $suite ($flags)"
    start=$(date +%s)
    if ! MIRIFLAGS="$flags" cargo "+$toolchain" miri test -p "$crate" "${args[@]}" -- \
        --test-threads=1 -Zunstable-options --report-time; then
        failed+=("$suite")
    fi
    echo "== miri: $suite took $(( $(date +%s) - start )) s"
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "miri: failed: ${failed[*]}" >&2
    exit 1
fi
echo "miri: ${#suites[@]} suites passed"
