#!/bin/bash
# SPDX-License-Identifier: MIT
# lab-run.sh CASE: boot one lab case under QEMU (TCG) and judge it from the serial log.
#   x86_64-iommu     q35 + intel-iommu, PVH-booted vmlinux, 4 vCPUs; error cases + device test
#                    (lab.mode=iommu); a second controller (slot 6) with a metadata namespace
#                    (512+8, extended LBA) and a zoned namespace, which the driver must refuse; a
#                    third (slot 7) with max_ioqpairs=1; interrupt/hybrid completions, 2 and 4
#                    loops, UNVMe's API, the KV server on VFIO
#   x86_64-noiommu   q35 without IOMMU, rebuilt vfio.ko (lab.mode=noiommu)
#   aarch64-smmuv3   virt, GICv3 (ITS for MSI isolation) + SMMUv3, 4 vCPUs, the same checks
#   x86_64-bench     like x86_64-iommu with two vCPUs: ours (vfio: poll, interrupt, hybrid) vs
#                    kernel nvme (uring), QD1/QD32, 1 and 2 loops, idle CPU; a second controller
#                    QEMU throttles to 10 IOPS (always an I/O in flight); writes $WORK/bench-table.md
#   x86_64-fio       the same one-vCPU machine: Debian's fio with the convme engine on vfio: and
#                    fio's io_uring on the kernel nvme driver, one job file (fio/lab.fio), rounds
#                    alternating; writes $WORK/fio-table.md. Skipped (77) without the fio image.
# Exit: 0 when the log ends with "LAB RESULT: PASS", 77 (skip) when QEMU cannot run at all on this
# host, 1 otherwise. Run lab-build.sh first. Env: LAB_TIMEOUT (seconds), LAB_SHELL=1 (interactive),
# LAB_EXTRA_APPEND (more kernel arguments), LAB_BENCH_COUNT (I/Os per bench run),
# LAB_BENCH_ROUNDS (bench rounds, each ours then the kernel's).
set -uo pipefail
source "$(dirname "$0")/scripts/common.sh"
CASE=${1:-}
case "$CASE" in
  x86_64-iommu|x86_64-noiommu|x86_64-bench|x86_64-fio) ARCH=x86_64 ;;
  aarch64-smmuv3) ARCH=aarch64 ;;
  *) die "usage: lab-run.sh x86_64-iommu|x86_64-noiommu|aarch64-smmuv3|x86_64-bench|x86_64-fio" ;;
esac
# LAB_QEMU: another emulator binary (e.g. a debug or sanitizer build of the same QEMU version),
# LAB_QEMU_ARGS: more QEMU arguments (e.g. "-L /usr/share/qemu -L /usr/share/seabios" for a build
# that is not installed), LAB_INITRD: another initramfs (e.g. one built from another commit).
QEMU=${LAB_QEMU:-qemu-system-$ARCH}
if ! command -v "$QEMU" >/dev/null || ! "$QEMU" -version >/dev/null 2>&1; then
  echo "############################################################################" >&2
  echo "## SKIP: $QEMU cannot run on this host (missing or broken); the VFIO lab" >&2
  echo "## case $CASE did not run. Install qemu-system-x86 / qemu-system-arm." >&2
  echo "############################################################################" >&2
  exit 77
fi
KVER=$(cat "$WORK/$ARCH/KVER" 2>/dev/null) || die "no guest kernel in $WORK/$ARCH: run tests/lab/lab-build.sh"
if [ "$CASE" = x86_64-fio ] && [ ! -f "$WORK/x86_64/initramfs-fio.cpio.gz" ]; then
  echo "## SKIP: no fio image ($WORK/x86_64/initramfs-fio.cpio.gz): the convme fio engine could not be" >&2
  echo "## built on this host (see lab-build.sh's output; needs fio and its Debian source)." >&2
  exit 77
fi

RUN=$WORK/run/$CASE
LOG=$WORK/logs/$CASE.log
mkdir -p "$RUN" "$WORK/logs"
# Fresh, sparse disks for every run: results never depend on a previous run's data.
disk() { rm -f "$RUN/$1"; truncate -s "$2" "$RUN/$1"; echo "$RUN/$1"; }
# discard=unmap: a deallocated (trimmed) range really becomes a hole and reads back as zeroes.
nvme() {  # id image serial [extra device options]
  echo "-drive file=$2,if=none,id=$1,format=raw,discard=unmap -device nvme,drive=$1,serial=$3${4:+,$4}"
}

# The bench has 16 runs per round (3 completion modes + the kernel, 2 QDs, 2 loop counts) plus
# the idle rows: 2 rounds of 2000 I/Os per run bound it to a few minutes under load; fio keeps 3.
ROUNDS=3 COUNT=20000
[ "$CASE" = x86_64-bench ] && ROUNDS=2 COUNT=2000
APPEND="rdinit=/init quiet panic=-1 lab.bench_count=${LAB_BENCH_COUNT:-$COUNT} lab.bench_rounds=${LAB_BENCH_ROUNDS:-$ROUNDS} lab.fio_runtime=${LAB_FIO_RUNTIME:-5} ${LAB_EXTRA_APPEND:-}"
[ "${LAB_SHELL:-0}" = 1 ] && APPEND="$APPEND lab.shell=1"
SMP=2
case "$CASE" in
  x86_64-iommu|x86_64-bench|x86_64-fio)
    # intel-iommu first: it must exist before the PCI devices it translates. The two NVMes behind
    # the conventional PCI bridge share one IOMMU group (the non-viable group case).
    ARGS=(-machine q35,accel=tcg -cpu max -device intel-iommu,intremap=on,caching-mode=on
          $(nvme nvm0 "$(disk nvme0.img 256M)" convme-lab0 addr=0x4))
    if [ "$CASE" = x86_64-iommu ]; then
      # Namespaces the driver must refuse: nsid 1 with 8 bytes of metadata per 512-byte block,
      # interleaved (ms=8,mset=1), nsid 2 zoned (4 MiB zones).
      ARGS+=(-drive file="$(disk fmt-md.img 16M)",if=none,id=fmtmd,format=raw
             -drive file="$(disk fmt-zns.img 32M)",if=none,id=fmtzns,format=raw
             -device nvme,id=nvfmt,serial=convme-lab-fmt,addr=0x6
             -device nvme-ns,drive=fmtmd,bus=nvfmt,nsid=1,ms=8,mset=1
             -device nvme-ns,drive=fmtzns,bus=nvfmt,nsid=2,zoned=true,zoned.zone_size=4M,zoned.zone_capacity=4M)
      ARGS+=(-device pci-bridge,id=br1,chassis_nr=1,bus=pcie.0,addr=0x5
             $(nvme nvm1 "$(disk nvme1.img 16M)" convme-lab1 bus=br1,addr=0x1)
             $(nvme nvm2 "$(disk nvme2.img 16M)" convme-lab2 bus=br1,addr=0x2))
      # A controller that grants one I/O queue pair: fewer queues than loops.
      ARGS+=($(nvme nvm3 "$(disk nvme3.img 64M)" convme-lab3 addr=0x7,max_ioqpairs=1))
      SMP=4  # runtimes of 2 and 4 loops
      APPEND="$APPEND lab.mode=iommu lab.scenario=test"
    elif [ "$CASE" = x86_64-fio ]; then
      SMP=1  # one vCPU (the fio table's machine)
      APPEND="$APPEND lab.mode=iommu lab.scenario=fio"
    else
      # Two vCPUs (1 and 2 loops); a second controller QEMU throttles to 10 IOPS, so an I/O is
      # always in flight there (the idle-CPU row with an I/O outstanding).
      ARGS+=(-drive file="$(disk nvme3.img 64M)",if=none,id=nvm3,format=raw,throttling.iops-total=10
             -device nvme,drive=nvm3,serial=convme-lab3,addr=0x7)
      APPEND="$APPEND lab.mode=iommu lab.scenario=bench"
    fi
    INITRD=$WORK/x86_64/initramfs.cpio.gz
    [ "$CASE" = x86_64-fio ] && INITRD=$WORK/x86_64/initramfs-fio.cpio.gz
    ARGS+=(-kernel "$WORK/x86_64/vmlinux" -initrd "$INITRD")
    # no_timer_check on every intel-iommu guest: under TCG on a loaded host the kernel's check of
    # the timer through the interrupt-remapped IO-APIC can time out and panic at boot (seen with
    # 1 vCPU always, and with 4 vCPUs at a host load of 10).
    APPEND="console=ttyS0 intel_iommu=on no_timer_check $APPEND"
    # The timing cases read the clock as on real servers, from the TSC. Under TCG the kernel finds
    # no invariant TSC and picks hpet, where each read is a system call and an emulated register
    # (about 0.9 us, clock_ns= in the BENCH lines), more than the host work per I/O measured here,
    # and paid again by every clock read of a spinning loop. LAB_CLOCKSOURCE=hpet: the kernel's pick.
    if [ "$CASE" != x86_64-iommu ]; then
      CS=${LAB_CLOCKSOURCE:-tsc}
      [ "$CS" = tsc ] && APPEND="$APPEND tsc=reliable"
      APPEND="$APPEND clocksource=$CS"
    fi ;;
  x86_64-noiommu)
    ARGS=(-machine q35,accel=tcg -cpu max $(nvme nvm0 "$(disk nvme0.img 256M)" convme-lab0 addr=0x4)
          -kernel "$WORK/x86_64/vmlinux" -initrd "$WORK/x86_64/initramfs-noiommu.cpio.gz")
    # Hugepages here: no-IOMMU DMA must be physically contiguous, which 4 KiB pages only are
    # one page at a time (the iommu cases cover the 4 KiB page path).
    APPEND="console=ttyS0 $APPEND lab.mode=noiommu lab.scenario=test lab.hugepages=64" ;;
  aarch64-smmuv3)
    # GICv3 brings an ITS, which gives MSI isolation; with QEMU's default GICv2 vfio_iommu_type1
    # refuses VFIO_SET_IOMMU (EPERM, "No interrupt remapping support").
    ARGS=(-machine virt,gic-version=3,iommu=smmuv3 -cpu "${LAB_ARM_CPU:-max,pauth-impdef=on}"
          $(nvme nvm0 "$(disk nvme0.img 256M)" convme-lab0)
          $(nvme nvm3 "$(disk nvme3.img 64M)" convme-lab3 addr=0x7,max_ioqpairs=1)
          -kernel "$WORK/aarch64/kernel/boot/vmlinuz-$KVER" -initrd "$WORK/aarch64/initramfs.cpio.gz")
    SMP=4  # runtimes of 2 and 4 loops
    APPEND="console=ttyAMA0 $APPEND lab.mode=iommu lab.scenario=test" ;;
esac
if [ -n "${LAB_INITRD:-}" ]; then
  for i in "${!ARGS[@]}"; do [ "${ARGS[$i]}" = -initrd ] && ARGS[$((i + 1))]=$LAB_INITRD; done
fi
# shellcheck disable=SC2206 # LAB_QEMU_ARGS is split into words on purpose
EXTRA_QEMU=(${LAB_QEMU_ARGS:-})
CMD=("$QEMU" "${ARGS[@]}" "${EXTRA_QEMU[@]}" -m 1G -smp $SMP -nographic -no-reboot -append "$APPEND")
TIMEOUT=${LAB_TIMEOUT:-300}
boot() {  # boot [NOTE]: one QEMU run into a fresh $LOG; sets QRC
  echo "+ ${CMD[*]}" > "$LOG"
  echo "=== host: $(nproc) cpus, load average $(cut -d' ' -f1-3 /proc/loadavg) at start${1:+ ($1)}" >> "$LOG"
  if [ "${LAB_SHELL:-0}" = 1 ]; then
    "${CMD[@]}" | tee -a "$LOG"
  else
    timeout --foreground -k 5 "$TIMEOUT" "${CMD[@]}" < /dev/null >> "$LOG" 2>&1
  fi
  QRC=$?
}
log "booting $CASE (timeout ${TIMEOUT}s), serial log: $LOG"
T0=$(date +%s.%N)
boot
# QEMU 7.2 itself segfaults now and then (exit 139) while guest-multiloop-reset disables the
# controller under I/O from 3 loops on 4 vCPUs (x86_64 and aarch64, about one run in three of
# that check alone; not with 1-2 vCPUs). A crash of the emulator is not a verdict on convme:
# boot the case once more, and say so; a second crash fails it.
if [ "$QRC" = 139 ] && [ "${LAB_SHELL:-0}" != 1 ] && ! tr -d '\r' < "$LOG" | grep -qE '^LAB CHECK .*: FAIL'; then
  LAST=$(tr -d '\r' < "$LOG" | grep -E '^--- ' | tail -1)
  echo "LAB NOTE: QEMU segfaulted (exit 139) during: ${LAST#--- }; booting the case once more" | tee -a "$LOG" >&2
  mv "$LOG" "$LOG.crashed"
  boot "rerun after a QEMU crash"
fi
T1=$(date +%s.%N)
WALL=$(echo "$T1 - $T0" | bc)
echo "=== host wall time QEMU start -> exit: ${WALL} s (qemu exit code $QRC)" >> "$LOG"

grep -E '^(LAB CHECK|BENCH|lab_guest (test|loops)|FIO )' "$LOG" | tr -d '\r' >&2
[ $QRC = 124 ] && echo "QEMU killed after ${TIMEOUT}s; tail of the log:" >&2 && tail -20 "$LOG" >&2
if [ "$CASE" = x86_64-bench ]; then
  BENCH_TITLE="4 KiB random reads, QEMU TCG guest with two vCPUs, intel-iommu, emulated NVMe (raw sparse file), all rows from one boot: convme over VFIO per completion mode (convme-poll|interrupt|hybrid) and the kernel nvme driver through convme's io_uring backend (kernel-nvme)." \
    "$LAB_DIR/scripts/bench-table.sh" "$LOG" > "$WORK/bench-table.md" && cat "$WORK/bench-table.md" >&2
fi
if [ "$CASE" = x86_64-fio ]; then
  BENCH_TITLE="fio 4 KiB random reads (tests/lab/fio/lab.fio): the convme engine on vfio: (convme-vfio) vs fio's io_uring on the kernel nvme driver (kernel-nvme), one vCPU, QEMU TCG, emulated NVMe." \
    "$LAB_DIR/scripts/bench-table.sh" "$LOG" > "$WORK/fio-table.md"
  RETRIES=$(tr -d '\r' < "$LOG" | grep -cE '^LAB CHECK .*: RETRY' || true)
  [ "$RETRIES" -gt 0 ] && printf '\n%s fio run(s) failed once and passed on a retry: %s\n' "$RETRIES" \
    "$(tr -d '\r' < "$LOG" | grep -E '^LAB CHECK .*: RETRY' | tr '\n' ' ')" >> "$WORK/fio-table.md"
  cat "$WORK/fio-table.md" >&2
fi
if tr -d '\r' < "$LOG" | grep -x 'LAB RESULT: PASS' >/dev/null; then
  log "$CASE: PASS in ${WALL}s"
  exit 0
fi
# QEMU that dies at once (no serial output at all) with an accelerator or machine error means it
# cannot run here, not that the lab failed.
if ! grep -q 'lab init' "$LOG" && grep -qiE 'could not access KVM|failed to initialize|Unsupported machine|not supported' "$LOG"; then
  echo "## SKIP: $QEMU could not start a guest on this host: $(grep -iE 'error|fail' "$LOG" | head -2)" >&2
  exit 77
fi
# CI shows only the end of the output: put what led to each failed check there.
tr -d '\r' < "$LOG" | grep -B 15 -E '^LAB CHECK .*: FAIL' | sed 's/^/  serial| /' | tail -60 >&2
log "$CASE: FAIL (see $LOG)"
exit 1
