#!/usr/bin/env bash
# Runs test suites repeatedly while every core is kept busy by spinning processes.
#
# A quiet machine hides races that users' loaded machines find: with the cores saturated,
# runtime threads are preempted at arbitrary points and wake-ups arrive late. This script
# saturates the cores, runs the chosen suites N times, and reports every failure.
#
#   scripts/stress.sh [-n N] [-j SPINNERS] [SUITE...]
#
# SUITE is `crate:test-target` (e.g. `ciranda-tests:rt_paused_clock`) or `crate` for all of a
# crate's tests. Default: the runtime, sync and time suites of the reliability tests and of
# the facade. -n defaults to 3, -j to the number of cores.
set -euo pipefail
cd "$(dirname "$0")/.."

repeat=3
spinners=$(nproc)
while getopts "n:j:" opt; do
    case "$opt" in
        n) repeat=$OPTARG ;;
        j) spinners=$OPTARG ;;
        *) echo "usage: $0 [-n N] [-j SPINNERS] [SUITE...]" >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))

suites=("$@")
if [ ${#suites[@]} -eq 0 ]; then
    for file in tests/tests/rt_*.rs tests/tests/sync_*.rs tests/tests/time_*.rs; do
        name=$(basename "$file" .rs)
        # The leak-check program has no test harness; it runs under valgrind in CI instead.
        [ "$name" = rt_shutdown_leakcheck ] && continue
        suites+=("ciranda-tests:$name")
    done
    suites+=(ciranda:runtime ciranda:combinators ciranda:task_group_spawner ciranda:gather_eager
        ciranda:sync_stress ciranda:task_review ciranda:task_group_memory
        ciranda:driver_foreign_turn ciranda:fs_split ciranda:runtime_thread_local
        ciranda-scheduler:runtime_review ciranda-http:server_review
        ciranda-reactor:paused_clock_lookup ciranda-sync:coop ciranda-http:send_timeout
        ciranda-reactor:sleep_reset ciranda:process_pidfd_emfile ciranda-sync:notify
        ciranda-sync:rwlock ciranda-sync:queue ciranda-sync:barrier
        ciranda-http:short_timeouts ciranda-http:http2_batching ciranda-http:stale_connections
        ciranda-scheduler:current_thread_memory ciranda:late_writes ciranda:stdout_late_write
        ciranda-http:connection_limit ciranda-sync:foreign_wakers
        ciranda-scheduler:shutdown ciranda-reactor:incoming_shared ciranda-reactor:local_shutdown
        ciranda:fs_nonblocking ciranda-http:total_connection_limit ciranda-scheduler:hook_wakes
        ciranda-reactor:unix_datagram ciranda-reactor:udp_more ciranda-reactor:try_io
        ciranda-reactor:tcp_socket ciranda-http:proxy ciranda-http:decompress
        ciranda-reactor:split_echo_stress ciranda-sync:mpsc_cancel_stress
        ciranda-reactor:datagram_unix_stream_stress)
fi

args_of() {
    local crate=${1%%:*} target=${1#*:}
    if [ "$crate" = "$1" ]; then
        echo "-p $crate --tests"
    else
        echo "-p $crate --test $target"
    fi
}

# Build first, without load, so the spinners only compete with the tests.
for suite in "${suites[@]}"; do
    # shellcheck disable=SC2046
    cargo test $(args_of "$suite") --no-run --quiet
done

pids=()
stop_spinners() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
}
trap stop_spinners EXIT
for _ in $(seq "$spinners"); do
    (while :; do :; done) &
    pids+=($!)
done

failures=0
log=$(mktemp)
for round in $(seq "$repeat"); do
    for suite in "${suites[@]}"; do
        # shellcheck disable=SC2046
        if ! cargo test $(args_of "$suite") --quiet >"$log" 2>&1; then
            failures=$((failures + 1))
            echo "FAILED: $suite (round $round of $repeat)"
            # A failure with no failed test in it is the build's or the harness's (a source
            # edited while the rounds run, a crash, a timeout): show the log's end instead.
            if ! grep -E "^(test .* FAILED|---- |thread '.*panicked|  left|  right|.*assertion)" \
                "$log" | head -n 40; then
                tail -n 20 "$log"
            fi
        fi
    done
    echo "round $round of $repeat done: $failures failure(s) so far"
done
rm -f "$log"
echo "stress: ${#suites[@]} suites x $repeat rounds with $spinners spinning processes: $failures failure(s)"
[ "$failures" -eq 0 ]
