#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The README's test command: installs the Debian dependencies, then builds and tests convme in
# every configuration CI checks. Stages (default: all, in this order):
#   gcc      gcc, warnings as errors, every test but the QEMU lab
#   perf     the instruction-count guard (bench/callgrind_guard.sh, callgrind, deterministic) on the
#            gcc build: fails when a main I/O path costs > 5 % above bench/callgrind_baseline.txt
#   asan     gcc Debug with AddressSanitizer + UndefinedBehaviorSanitizer
#   tsan     gcc with ThreadSanitizer: the core, sim, NVMe driver, open and null tests (several
#            loops, the device thread, resets and cross-core posts; about 7 minutes)
#   clang    clang, warnings as errors
#   aarch64  cross-compiled with g++-aarch64-linux-gnu, tests run under qemu-user
#   lab      the QEMU VFIO lab (ctest -L vfio-lab): the driver against QEMU's NVMe, 3 guests
# Pick stages with CONVME_STAGES="gcc lab". Ends with one "N passed, N failed" summary line.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
STAGES=${CONVME_STAGES:-gcc perf asan tsan clang aarch64 lab}
JOBS=${JOBS:-$(nproc)}
export CTEST_PARALLEL_LEVEL=${CTEST_PARALLEL_LEVEL:-$JOBS}
export GTEST_COLOR=no

extra=()
case " $STAGES " in *" lab "*) extra+=(--lab) ;; esac
case " $STAGES " in *" aarch64 "*) extra+=(--aarch64) ;; esac
tests/install-deps.sh "${extra[@]}" || { echo "FAILED: installing dependencies"; exit 1; }

total_pass=0 total_fail=0 failed_stages=()
log_dir=$ROOT/build/logs; mkdir -p "$log_dir"

count() {  # add up ctest's "X% tests passed, F tests failed out of N" line from a log
  local line n f
  line=$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$1" | tail -1)
  [ -n "$line" ] || return 0
  f=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")
  n=$(sed -E 's/.* failed out of ([0-9]+).*/\1/' <<<"$line")
  total_pass=$((total_pass + n - f)); total_fail=$((total_fail + f))
}

run_stage() {  # run_stage NAME PRESET [ctest args...]
  local name=$1 preset=$2; shift 2
  local log=$log_dir/$name.log t0=$SECONDS
  echo "=== stage $name (preset $preset)"
  {
    cmake --preset "$preset" >/dev/null &&
    cmake --build --preset "$preset" -j "$JOBS" &&
    ctest --preset "$preset" --timeout 600 "$@"
  } >"$log" 2>&1
  local rc=$?
  grep -E '^(  *[0-9]+/[0-9]+ Test .*(Failed|Not Run|Timeout|Exception)|The following tests|[0-9]+% tests passed|Total Test time)' "$log" | sed 's/^/    /'
  grep -E '\*\*\*Failed|\(Failed\)|error:' "$log" | head -40 | sed 's/^/    /'
  count "$log"
  if [ $rc -ne 0 ]; then
    failed_stages+=("$name"); echo "=== stage $name FAILED after $((SECONDS - t0)) s (log: $log)"; tail -30 "$log"
  else
    echo "=== stage $name ok in $((SECONDS - t0)) s"
  fi
}

run_guard_stage() {  # the callgrind guard: one check, counted as one test
  local log=$log_dir/perf.log t0=$SECONDS
  echo "=== stage perf (preset ci, bench/callgrind_guard.sh)"
  {
    cmake --preset ci >/dev/null &&
    cmake --build --preset ci -j "$JOBS" --target convme-sim-bench convme_micro_callgrind_runtime &&
    bench/callgrind_guard.sh --build build/ci
  } >"$log" 2>&1
  local rc=$?
  sed -n '/^path /,$p' "$log" | sed 's/^/    /'
  if [ $rc -ne 0 ]; then
    total_fail=$((total_fail + 1)); failed_stages+=(perf)
    echo "=== stage perf FAILED after $((SECONDS - t0)) s (log: $log)"; tail -30 "$log"
  else
    total_pass=$((total_pass + 1)); echo "=== stage perf ok in $((SECONDS - t0)) s"
  fi
}

for stage in $STAGES; do
  case $stage in
    gcc) run_stage gcc ci -LE vfio-lab ;;
    perf) run_guard_stage ;;
    asan) run_stage asan asan -LE 'vfio-lab|integration|install' ;;
    tsan) run_stage tsan tsan ;;
    clang) run_stage clang clang -LE vfio-lab ;;
    aarch64)
      tests/lab/setup-aarch64-deps.sh >"$log_dir/aarch64-deps.log" 2>&1 || { echo "aarch64 deps failed:"; tail -20 "$log_dir/aarch64-deps.log"; }
      run_stage aarch64 aarch64 -LE 'vfio-lab|integration' ;;
    lab) run_stage lab ci -L vfio-lab ;;
    *) echo "unknown stage $stage"; failed_stages+=("$stage") ;;
  esac
done

echo
[ ${#failed_stages[@]} -eq 0 ] || echo "failed stages: ${failed_stages[*]}"
echo "$total_pass passed, $total_fail failed"
[ ${#failed_stages[@]} -eq 0 ] && [ "$total_fail" -eq 0 ]
