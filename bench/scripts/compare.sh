#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Comparative benchmark, side by side on the same workload:
#   block I/O  4 KiB randread + randwrite at QD1 and QD32, one core, on
#              sim        convme's simulated NVMe controller in RAM (sim:mem), device thread
#              sim-inline the same controller stepped inside the host's poll (sim:mem?inline=1)
#              uring      convme's io_uring backend on a temp file (O_DIRECT)
#              threadpool convme's thread-pool fallback on the same file
#              fio        fio's io_uring engine on the same file (--direct=1), the outside reference
#   path       the software path alone: convme's null: backend and sim:mem?inline=1 against fio's
#              null engine (--ioengine=null --thread), 4 KiB randread at QD1 and QD32 on one core,
#              and QD32 on 2 loops / 2 fio jobs (2 cores) for the scaling ratio
#   KV         convme-kv vs redis-server (in memory, and appendonly+appendfsync always) under the
#              same redis-benchmark load (SET/GET, pipelined)
# Every configuration runs R times (interleaved); results.md shows medians and ratios (vs uring
# for block I/O, vs redis for KV) and plot.sh renders results.png. See bench/README.md.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: bench/scripts/compare.sh [options]
  --quick              1 repetition, 1 s runs, 256 MiB file, fewer KV requests (about a minute)
  --reps N             repetitions per configuration (default 3; the table shows medians)
  --time S             seconds per block I/O run (default 3)
  --warmup S           seconds of I/O before measuring (default 0.5)
  --size SIZE          temp file size for uring/threadpool/fio (default 1G)
  --sim-size SIZE      simulated device size (default 512M)
  --qds "1 32"         queue depths to test
  --workloads "randread randwrite"
  --engines "sim sim-inline uring threadpool fio"
  --path-engines "null sim-inline fio-null"
                       engines of the software-path table (4 KiB randread, QD1/QD32 on one core,
                       QD32 on 2 cores)
  --path-cores "1 2"   core counts of the software-path table (QD32 only for more than one)
  --kv-requests N      requests per redis-benchmark test (default 200000)
  --kv-clients N       redis-benchmark connections (default 50)
  --pipeline N         redis-benchmark -P (default 16)
  --kv-cores N         cores for convme-kv (default 1)
  --no-kv | --no-block | --no-path
                       skip a part
  --tmp-dir DIR        where the temp file and server dirs go (default /var/tmp; must support
                       O_DIRECT: not tmpfs)
  --build-dir DIR      build tree holding the binaries (default build/default; built if missing)
  --out DIR            results directory (default build/bench-results)
EOF
}

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SCRIPTS=$ROOT/bench/scripts
REPS=3 TIME=3 WARMUP=0.5 SIZE=1G SIM_SIZE=512M QDS="1 32" WORKLOADS="randread randwrite"
ENGINES="sim sim-inline uring threadpool fio" KV_REQUESTS=200000 KV_CLIENTS=50 PIPELINE=16 KV_CORES=1
PATH_ENGINES="null sim-inline fio-null" PATH_CORES="1 2"
DO_KV=1 DO_BLOCK=1 DO_PATH=1 TMP_BASE=/var/tmp BUILD_DIR=$ROOT/build/default OUT=$ROOT/build/bench-results
QUICK=0
while [ $# -gt 0 ]; do
  case $1 in
    --quick) QUICK=1; REPS=1; TIME=1; WARMUP=0.2; SIZE=256M; KV_REQUESTS=50000 ;;
    --reps) REPS=$2; shift ;;
    --time) TIME=$2; shift ;;
    --warmup) WARMUP=$2; shift ;;
    --size) SIZE=$2; shift ;;
    --sim-size) SIM_SIZE=$2; shift ;;
    --qds) QDS=$2; shift ;;
    --workloads) WORKLOADS=$2; shift ;;
    --engines) ENGINES=$2; shift ;;
    --kv-requests) KV_REQUESTS=$2; shift ;;
    --kv-clients) KV_CLIENTS=$2; shift ;;
    --pipeline) PIPELINE=$2; shift ;;
    --kv-cores) KV_CORES=$2; shift ;;
    --no-kv) DO_KV=0 ;;
    --no-block) DO_BLOCK=0 ;;
    --no-path) DO_PATH=0 ;;
    --path-engines) PATH_ENGINES=$2; shift ;;
    --path-cores) PATH_CORES=$2; shift ;;
    --tmp-dir) TMP_BASE=$2; shift ;;
    --build-dir) BUILD_DIR=$2; shift ;;
    --out) OUT=$2; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "compare.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
case $BUILD_DIR in /*) ;; *) BUILD_DIR=$ROOT/$BUILD_DIR ;; esac
case $OUT in /*) ;; *) OUT=$PWD/$OUT ;; esac

log() { printf '[compare %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# --- dependencies -----------------------------------------------------------------------------
need_pkgs=()
command -v fio >/dev/null || need_pkgs+=(fio)
command -v redis-server >/dev/null || need_pkgs+=(redis-server)
command -v redis-benchmark >/dev/null || need_pkgs+=(redis-tools)
command -v gnuplot >/dev/null || need_pkgs+=(gnuplot-nox)
command -v python3 >/dev/null || need_pkgs+=(python3)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    log "installing ${need_pkgs[*]}"
    apt-get update -qq || log "apt-get update failed; trying the install anyway"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >/dev/null ||
      log "apt-get install failed; the parts needing ${need_pkgs[*]} will be skipped"
  else
    log "missing ${need_pkgs[*]}; run as root to install them (sudo apt-get install -y ${need_pkgs[*]}); those parts are skipped"
  fi
fi
command -v python3 >/dev/null || { echo "compare.sh: python3 is required for the summary" >&2; exit 1; }

# --- build ------------------------------------------------------------------------------------
BENCH=$BUILD_DIR/bench/tool/convme-bench
KV=""
find_kv() {
  KV=""
  local c
  for c in "$BUILD_DIR/examples/kv/convme-kv" "$BUILD_DIR/examples/convme-kv" "$BUILD_DIR/convme-kv"; do
    [ -x "$c" ] && { KV=$c; return; }
  done
  c=$(find "$BUILD_DIR" -maxdepth 4 -type f -name convme-kv -perm -u+x -print -quit 2>/dev/null)
  [ -n "$c" ] && KV=$c
  return 0
}
find_kv
if [ ! -x "$BENCH" ] || { [ "$DO_KV" = 1 ] && [ -z "$KV" ]; }; then
  log "building convme ($BUILD_DIR)"
  # Only the two programs this script runs.
  (cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCONVME_BUILD_TESTS=OFF \
     -DCONVME_LAB=OFF >/dev/null &&
    cmake --build "$BUILD_DIR" -j "$(nproc)" --target convme_bench convme_kv) >&2 ||
    log "build failed (see above); continuing with whatever binaries exist"
  find_kv
fi
[ -x "$BENCH" ] || { echo "compare.sh: $BENCH missing after the build" >&2; exit 1; }

# --- output and temp space --------------------------------------------------------------------
mkdir -p "$OUT/raw"
rm -f "$OUT"/raw/* "$OUT"/notes.txt
NOTES=$OUT/notes.txt
: >"$NOTES"
note() { log "NOTE: $*"; echo "$*" >>"$NOTES"; }

WORK=$(mktemp -d "$TMP_BASE/convme-compare.XXXXXX")
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

size_bytes() { python3 -c 'import sys
s=sys.argv[1].strip().upper(); m={"K":1<<10,"M":1<<20,"G":1<<30,"T":1<<40}
print(int(float(s[:-1])*m[s[-1]]) if s[-1] in m else int(s))' "$1"; }

{
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "host: $(nproc) CPUs ($(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)), $(free -g | awk '/^Mem:/{print $2}') GiB RAM"
  echo "kernel: $(uname -sr)"
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg) (other jobs on this machine compete for the CPUs)"
  echo "temp dir: $TMP_BASE ($(df -T "$TMP_BASE" | awk 'NR==2{print $2 " on " $1}'))"
  echo "convme: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown), build $(basename "$BUILD_DIR")"
  echo "fio: $(fio --version 2>/dev/null || echo missing); redis: $(redis-server --version 2>/dev/null | awk '{print $3}' | sed 's/v=//' || echo missing)"
  echo "settings: reps=$REPS time=${TIME}s warmup=${WARMUP}s file=$SIZE sim=$SIM_SIZE qds='$QDS' kv_requests=$KV_REQUESTS clients=$KV_CLIENTS pipeline=$PIPELINE kv_cores=$KV_CORES"
} >"$OUT/machine.txt"
log "machine: $(tr '\n' ';' <"$OUT/machine.txt")"

# --- block I/O --------------------------------------------------------------------------------
FILE=$WORK/data.bin
run_block() {  # engine rw qd rep
  local engine=$1 rw=$2 qd=$3 rep=$4 out="$OUT/raw/block__$1__$2__qd$3__r$4.json" err=$WORK/err.txt uri
  local common=(--rw "$rw" --bs 4K --qd "$qd" --cores 1 --time "$TIME" --warmup "$WARMUP" --output json
                --label "$engine")
  case $engine in
    sim) uri="sim:mem?size=$SIM_SIZE&lba=512"
         [ "$rw" = randread ] && common+=(--prefill) ;;
    sim-inline)  # no device thread: the controller does its work inside the host's poll
         uri="sim:mem?size=$SIM_SIZE&lba=512&inline=1"
         [ "$rw" = randread ] && common+=(--prefill) ;;
    uring) uri="uring:$FILE" ;;
    threadpool) uri="threadpool:$FILE" ;;
    fio)
      local ramp=()
      [ "$(python3 -c "print(int(float('$WARMUP')*1000))")" -gt 0 ] &&
        ramp=(--ramp_time="$(python3 -c "print(int(float('$WARMUP')*1000))")ms")
      if fio --name="fio-$rw-qd$qd" --filename="$FILE" --size="$SIZE" --direct=1 --ioengine=io_uring \
           --fixedbufs=1 --registerfiles=1 --rw="$rw" --bs=4k --iodepth="$qd" --numjobs=1 \
           --time_based --runtime="${TIME}s" "${ramp[@]}" --lat_percentiles=1 \
           --percentile_list=50:99:99.9 --randrepeat=0 --output-format=json >"$out" 2>"$err"; then
        return 0
      fi
      note "fio $rw qd$qd rep $rep failed: $(tail -3 "$err" | tr '\n' ' ')"; rm -f "$out"; return 0 ;;
  esac
  if ! "$BENCH" --uri "$uri" "${common[@]}" >"$out" 2>"$err"; then
    note "$engine $rw qd$qd rep $rep failed: $(grep -v '^\[' "$err" | tail -3 | tr '\n' ' ')"
    rm -f "$out"
  fi
}

if [ "$DO_BLOCK" = 1 ]; then
  engines=()
  for e in $ENGINES; do
    if [ "$e" = fio ] && ! command -v fio >/dev/null; then
      note "fio is not installed: the fio column is skipped (apt-get install -y fio)"
      continue
    fi
    engines+=("$e")
  done
  if printf '%s\n' "${engines[@]}" | grep -vxE 'sim|sim-inline' >/dev/null; then
    bytes=$(size_bytes "$SIZE")
    log "writing the $SIZE test file with random data (shared by uring, threadpool and fio)"
    dd if=/dev/urandom of="$FILE" bs=1M count=$((bytes / 1048576)) oflag=direct status=none
    sync "$FILE"
  fi
  total=$(( REPS * ${#engines[@]} * $(wc -w <<<"$WORKLOADS") * $(wc -w <<<"$QDS") ))
  n=0
  # Repetitions outermost: drift of the shared machine spreads over all engines alike.
  for rep in $(seq 1 "$REPS"); do
    for rw in $WORKLOADS; do
      for qd in $QDS; do
        for e in "${engines[@]}"; do
          n=$((n + 1))
          log "block $n/$total: $e $rw qd$qd rep $rep"
          run_block "$e" "$rw" "$qd" "$rep"
        done
      done
    done
  done
  rm -f "$FILE"
fi

# --- software path: null engines ---------------------------------------------------------------
# 4 KiB randread with no medium behind the engine: what the I/O path itself costs. IOPS depend on
# how much CPU the shared machine leaves the run; CPU ns per I/O is the figure to compare.
run_path() {  # engine cores qd rep
  local engine=$1 cores=$2 qd=$3 rep=$4 out="$OUT/raw/path__$1__c$2__qd$3__r$4.json" err=$WORK/err.txt uri
  local common=(--rw randread --bs 4K --qd "$qd" --cores "$cores" --time "$TIME" --warmup "$WARMUP"
                --output json --label "$engine")
  case $engine in
    null) uri="null:?size=1G&lba=512" ;;
    sim-inline) uri="sim:mem?size=$SIM_SIZE&lba=512&inline=1"; common+=(--prefill) ;;
    fio-null)
      local ramp=()
      [ "$(python3 -c "print(int(float('$WARMUP')*1000))")" -gt 0 ] &&
        ramp=(--ramp_time="$(python3 -c "print(int(float('$WARMUP')*1000))")ms")
      # One job per core, as convme runs one loop per core; no group_reporting: summarize.py adds
      # the jobs up.
      if fio --name="fio-null-c$cores-qd$qd" --ioengine=null --thread --size=1G --rw=randread --bs=4k \
           --iodepth="$qd" --numjobs="$cores" --time_based --runtime="${TIME}s" "${ramp[@]}" \
           --randrepeat=0 --output-format=json >"$out" 2>"$err"; then
        return 0
      fi
      note "fio-null c$cores qd$qd rep $rep failed: $(tail -3 "$err" | tr '\n' ' ')"; rm -f "$out"; return 0 ;;
    *) note "unknown path engine $engine"; return 0 ;;
  esac
  if ! "$BENCH" --uri "$uri" "${common[@]}" >"$out" 2>"$err"; then
    note "$engine c$cores qd$qd rep $rep failed: $(grep -v '^\[' "$err" | tail -3 | tr '\n' ' ')"
    rm -f "$out"
  fi
}

if [ "$DO_PATH" = 1 ]; then
  pengines=()
  for e in $PATH_ENGINES; do
    if [ "$e" = fio-null ] && ! command -v fio >/dev/null; then
      note "fio is not installed: the fio-null rows are skipped (apt-get install -y fio)"
      continue
    fi
    pengines+=("$e")
  done
  points=()
  for c in $PATH_CORES; do
    if [ "$c" = 1 ]; then for qd in $QDS; do points+=("1 $qd"); done; else points+=("$c 32"); fi
  done
  total=$(( REPS * ${#pengines[@]} * ${#points[@]} )); n=0
  for rep in $(seq 1 "$REPS"); do
    for pt in "${points[@]}"; do
      read -r c qd <<<"$pt"
      for e in "${pengines[@]}"; do
        n=$((n + 1))
        log "path $n/$total: $e cores $c qd$qd rep $rep"
        run_path "$e" "$c" "$qd" "$rep"
      done
    done
  done
fi

# --- KV: convme-kv vs redis-server ------------------------------------------------------------
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

wait_port() {  # port pid: wait until the server answers PING (or at least accepts connections)
  local i
  for i in $(seq 1 100); do
    kill -0 "$2" 2>/dev/null || return 1
    if command -v redis-cli >/dev/null && [ "$(redis-cli -h 127.0.0.1 -p "$1" PING 2>/dev/null)" = PONG ]; then return 0; fi
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && ! command -v redis-cli >/dev/null && return 0
    sleep 0.1
  done
  return 1
}

stop_server() {
  [ -n "$SERVER_PID" ] || return 0
  kill "$SERVER_PID" 2>/dev/null || true
  local i
  for i in $(seq 1 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}

run_kv() {  # server rep
  local server=$1 rep=$2 port dir=$WORK/kv-$1-$2 out="$OUT/raw/kv__$1__r$2.csv" log_file
  port=$(free_port)
  rm -rf "$dir"; mkdir -p "$dir"
  log_file=$dir/server.log
  case $server in
    redis-mem)
      redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" --save '' --appendonly no \
        --protected-mode yes --daemonize no >"$log_file" 2>&1 & ;;
    redis-aof)
      redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" --save '' --appendonly yes \
        --appendfsync always --protected-mode yes --daemonize no >"$log_file" 2>&1 & ;;
    convme-kv)
      "$KV" --port "$port" --dir "$dir" --cores "$KV_CORES" >"$log_file" 2>&1 & ;;
  esac
  SERVER_PID=$!
  if ! wait_port "$port" "$SERVER_PID"; then
    note "$server rep $rep: server did not come up on 127.0.0.1:$port: $(tail -3 "$log_file" | tr '\n' ' ')"
    stop_server; return 0
  fi
  if [ "$server" = convme-kv ] && ! grep -q '^convme-kv:' "$OUT/machine.txt"; then
    echo "convme-kv: --cores $KV_CORES, default device; $(grep -m1 'ready:' "$log_file" | sed 's/.*ready: *//')" >>"$OUT/machine.txt"
  fi
  if ! timeout 300 redis-benchmark -h 127.0.0.1 -p "$port" -t set,get -P "$PIPELINE" -n "$KV_REQUESTS" \
       -c "$KV_CLIENTS" -d 64 -r 100000 --csv >"$out" 2>"$dir/bench.err"; then
    note "$server rep $rep: redis-benchmark failed: $(tail -3 "$dir/bench.err" | tr '\n' ' ')"
    rm -f "$out"
  fi
  stop_server
  rm -rf "$dir"
}

if [ "$DO_KV" = 1 ]; then
  if ! command -v redis-benchmark >/dev/null || ! command -v redis-server >/dev/null; then
    note "redis-server/redis-benchmark not installed: the KV comparison is skipped (apt-get install -y redis-server redis-tools)"
  else
    servers=(redis-mem redis-aof)
    if [ -n "$KV" ]; then servers=(convme-kv "${servers[@]}"); else
      note "convme-kv binary not found under $BUILD_DIR: KV rows show redis only"; fi
    for rep in $(seq 1 "$REPS"); do
      for s in "${servers[@]}"; do
        log "kv: $s rep $rep ($KV_REQUESTS requests per test, -P $PIPELINE, $KV_CLIENTS clients)"
        run_kv "$s" "$rep"
      done
    done
  fi
fi

# --- summary ----------------------------------------------------------------------------------
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/machine.txt"
python3 "$SCRIPTS/summarize.py" "$OUT"  # tables for the plot
if [ "$DO_BLOCK" = 1 ] || [ "$DO_KV" = 1 ]; then
  "$SCRIPTS/plot.sh" "$OUT" || note "plot failed (see above)"
fi
python3 "$SCRIPTS/summarize.py" "$OUT" >/dev/null  # again: link the plot, include late notes
log "results: $OUT/results.md"
cat "$OUT/results.md"
