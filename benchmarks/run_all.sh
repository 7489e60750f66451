#!/usr/bin/env bash
# Every comparison of BENCHMARKS.md in one sitting, one script after the
# other (never two at once), with the machine's load before and after each.
# Output goes to the terminal and to benchmarks/last-run.log.
#   bash benchmarks/run_all.sh            # the speed tables (about 20 minutes)
#   bash benchmarks/run_all.sh --series   # also bench_series.py (6 minutes more)
set -uo pipefail
cd "$(dirname "$0")/.."
export AWS_EC2_METADATA_DISABLED=true
log=benchmarks/last-run.log
: >"$log"
run() {
  {
    echo
    echo "=== $* ($(date -u +%H:%M:%S) UTC; load $(cut -d' ' -f1-3 /proc/loadavg))"
  } | tee -a "$log"
  python "$@" 2>&1 | tee -a "$log"
  echo "--- done, load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$log"
}
echo "machine: $(nproc) cores, $(uname -srm)" | tee -a "$log"
run benchmarks/bench_startup.py --rounds 7
run benchmarks/bench_get.py --chunk 64KiB --rounds 3
run benchmarks/bench_https_ttfb.py --rounds 5
run benchmarks/bench_load.py --rounds 3
run benchmarks/bench_emulator.py --size 1GiB --duration 5 --rounds 3
run benchmarks/bench_events.py --duration 5 --rounds 3
run benchmarks/bench_runtime.py --requests 400 --size 1GiB --rounds 3 --cold 5
if [ "${1:-}" = "--series" ]; then
  run benchmarks/bench_series.py
fi
