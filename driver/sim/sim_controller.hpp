// SPDX-License-Identifier: MIT
// A simulated NVMe controller, seen from the driver exactly like a PCI function behind VFIO:
// BAR0 registers in memory (doorbells included), DMA through an IOVA translation table, SQEs
// fetched from host memory, PRPs walked, data moved, CQEs posted with phase bits. It runs either
// on its own device thread or in inline-step mode (work happens in step(), deterministic, used by
// tests and callgrind).
//
// The device thread behaves like hardware with interrupts rather than like a second spinning
// core: it spins briefly after work, then sleeps until a doorbell write (the pci_device face traps
// register writes, as a VMM traps MMIO) or its next delayed completion, and it notifies the host
// after posting completions (pci_device::set_completion_notify, the MSI-X of the model), so the
// host loop may sleep too while only the device has work.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "driver/nvme/pci_device.hpp"

namespace convme::sim {

struct namespace_config {
    std::uint64_t size_bytes = 1ull << 30;
    std::uint32_t lba_size = 512;  // 512 or 4096
    // Metadata bytes per block of the current LBA format (0: none). `extended_lba`: interleaved
    // with the data (FLBAS bit 4, 512+ms bytes per block on the wire), else a separate buffer.
    // The model reports the format; it moves no metadata (the driver must refuse such namespaces).
    std::uint16_t metadata_size = 0;
    bool extended_lba = false;
    // I/O command set (Namespace Identification Descriptor CSI): 0 NVM, 2 Zoned Namespace. A
    // zoned namespace accepts writes only at its zones' write pointers (Zone Invalid Write else).
    std::uint8_t csi = 0;
    std::uint64_t zone_bytes = 1u << 20;
};

struct controller_config {
    std::vector<namespace_config> namespaces{namespace_config{}};
    std::string backing_file;   // empty: RAM; else namespaces persisted in this file
    std::uint32_t mqes = 1023;  // CAP.MQES (0's based max queue entries)
    std::uint8_t mdts = 5;      // Identify MDTS: max transfer 2^mdts * 2^(12+MPSMIN); 0 = none
    std::uint32_t dstrd = 0;    // CAP.DSTRD
    std::uint32_t mpsmin = 0;   // CAP.MPSMIN (4 KiB)
    std::uint32_t mpsmax = 4;   // CAP.MPSMAX (64 KiB)
    std::uint32_t timeout_500ms = 20;  // CAP.TO
    bool dbbc = true;                  // advertise Doorbell Buffer Config (OACS bit 8)
    bool volatile_write_cache = true;
    std::uint32_t max_io_queues = 64;
    std::chrono::nanoseconds latency{0};  // added before each I/O completion is posted
    bool inline_mode = false;             // no device thread: the host calls step()
    std::size_t host_page_size = 4096;    // what the pci_device face reports (4096 or 65536)
    // ---- hostile timing (each bounded by CAP.TO): after CC.EN 1->0 the controller keeps fetching
    // commands and posting completions for `disable_delay` before CSTS.RDY goes 0 and the queues
    // are dropped; after CC.EN 0->1 it takes `enable_delay` to report CSTS.RDY=1. Clearing CC.EN
    // while an enable is in progress (CC.EN=1, RDY=0) latches CSTS.CFS until the next clean
    // disable.
    std::chrono::nanoseconds disable_delay{0};
    std::chrono::nanoseconds enable_delay{0};
    // CQE SQ Head Pointer reported this many fetches behind the real head (a lagging controller).
    std::uint32_t sqhd_lag = 0;
    // Every Nth time the controller has taken an SQ tail from the shadow buffer it forgets to
    // publish EventIdx for it (and to look again): the host, seeing the old EventIdx, then skips
    // the MMIO write for its next tail, which waits for the next MMIO doorbell write (the shape of
    // QEMU 7.2's missing CQ EventIdx update, on an SQ). 0: never.
    std::uint32_t forget_eventidx_every = 0;
    // When the host unmasks an MSI-X vector, first post the completion of one command of that
    // vector's queues still held for its latency, while the vector is still masked: a completion
    // landing the instant before the unmask, whose signal only the Pending bit carries (and that
    // the host's last look at the CQ did not see).
    bool complete_at_unmask = false;
    // Identify Controller limits (0: not reported): WZSL / DMRSL / DMRL of the NVM command set
    // specific Identify Controller (CNS 06h), RTD3E (us) of Identify Controller. Commands beyond
    // WZSL/DMRSL/DMRL fail with Invalid Field; a shutdown takes `shutdown_delay`.
    std::uint8_t wzsl = 0;
    std::uint32_t dmrsl = 0;
    std::uint8_t dmrl = 0;
    std::uint32_t rtd3e_us = 0;
    std::chrono::nanoseconds shutdown_delay{0};
    // Bad media: a Read or Write touching blocks [bad_lba, bad_lba + bad_blocks) of any namespace
    // fails with Unrecovered Read Error / Write Fault (SCT 2h), every time, as a worn-out or
    // damaged region of a real SSD does (and QEMU's blkdebug). bad_blocks 0: none.
    std::uint64_t bad_lba = 0;
    std::uint64_t bad_blocks = 0;
};

// Faults the test can arm. Matching is on (admin?, opcode); `skip` matching commands pass first.
struct fault {
    enum class kind {
        error_status,     // complete with `status` (SCT/SC as from nvme::make_status)
        drop_completion,  // execute (or not, see `execute`) but never post the CQE
        late_completion,  // execute and post only `delay` after the fetch; an Abort answers
                          // "not aborted" meanwhile (the command has left the abortable stage)
    };
    kind what = kind::error_status;
    bool admin = false;
    std::uint8_t opcode = 0;
    std::uint32_t skip = 0;
    std::uint32_t count = 1;  // how many matching commands are hit
    std::uint16_t status = 0;
    bool execute = false;               // drop_completion: still perform the data transfer?
    std::chrono::nanoseconds delay{0};  // late_completion
    std::uint32_t nsid = 0;             // match only this namespace (0: any)
};

struct controller_stats {
    std::uint64_t commands = 0;  // all commands processed
    std::uint64_t io_commands = 0;
    std::uint64_t admin_commands = 0;
    std::uint64_t doorbell_mmio_writes = 0;   // doorbell register writes observed
    std::uint64_t shadow_doorbell_reads = 0;  // doorbell values taken from the shadow buffer
    std::uint64_t resets = 0;                 // CC.EN 1 -> 0 transitions
    // CC.EN 1 -> 0 from ready while I/O queues exist, and while I/O commands are still held
    // (QEMU 7.2's emulated NVMe can crash when disabled with I/O in flight; Linux deletes the
    // I/O queues of a controller that still answers first).
    std::uint64_t disables_with_io_queues = 0;
    std::uint64_t disables_with_io_in_flight = 0;
    std::uint64_t aborts = 0;  // Abort commands received
    std::uint64_t bytes_read = 0, bytes_written = 0;
    std::uint64_t max_sq_occupancy = 0;
    std::uint64_t device_sleeps = 0;    // times the device thread blocked while idle
    std::uint64_t interrupts = 0;       // MSI-X signals sent (eventfd writes)
    std::uint64_t interrupts_held = 0;  // signals due while their vector was masked (Pending)
    bool device_dozing = false;         // snapshot: the device thread is (about to be) asleep
    std::uint64_t invalid_doorbell_writes = 0;  // doorbell writes to absent queues / bad values
    // The host freed DMA memory (alloc_dma) under a live queue or a command the device still
    // holds, or unmapped an I/O buffer a held command points at: a real device would now corrupt
    // whatever reuses that memory (the model does: freed IOVAs are reused first-fit).
    std::uint64_t dma_lifetime_violations = 0;
    std::uint64_t late_completions = 0;    // late_completion commands posted
    std::uint64_t forgotten_eventidx = 0;  // forget_eventidx_every taking effect
    bool disabling = false;                // CC.EN=0 written, CSTS.RDY still 1 (disable_delay)
    bool enabling = false;                 // CC.EN=1 written, CSTS.RDY still 0 (enable_delay)
    bool fatal = false;                    // CSTS.CFS
};

class simulated_controller {
  public:
    explicit simulated_controller(controller_config cfg);
    ~simulated_controller();
    simulated_controller(const simulated_controller&) = delete;
    simulated_controller& operator=(const simulated_controller&) = delete;

    const controller_config& config() const noexcept;

    // Process everything pending (inline mode; harmless with a device thread).
    void step() noexcept;

    void inject(const fault& f);
    // Sets CSTS.CFS (controller fatal status).
    void set_fatal() noexcept;
    // Surprise removal: from now on every register reads all-ones and nothing is processed.
    void remove() noexcept;

    controller_stats stats() const noexcept;

    // Direct access to namespace contents (tests verify data without going through the driver).
    // nsid is 1-based. Returns -EINVAL if out of range.
    int peek(std::uint32_t nsid, std::uint64_t byte_offset, void* out, std::size_t len) const;

    // The most recent diagnostic the device produced (DMA fault, invalid doorbell, fatal cause),
    // empty if none. Also printed to stderr (first few only).
    std::string last_diagnostic() const;
    // Host memory committed to namespace data (RAM media is sparse; 0 for a backing file).
    std::uint64_t resident_bytes() const;

    struct impl;

  private:
    std::unique_ptr<impl> impl_;
    friend std::unique_ptr<driver::pci_device> make_pci_device(
        std::shared_ptr<simulated_controller>);
};

// The driver-facing face of a controller (BAR0, DMA allocation and translation).
std::unique_ptr<driver::pci_device> make_pci_device(std::shared_ptr<simulated_controller> ctrl);

// Parse sim: URI parameters (size, lba, namespaces, mdts, latency_us, dbbc, qd..., inline,
// host_page) into a controller_config. Returns false and fills why on a malformed value.
bool parse_sim_config(const std::string& target, const std::map<std::string, std::string>& params,
                      controller_config& out, std::string& why);

}  // namespace convme::sim
