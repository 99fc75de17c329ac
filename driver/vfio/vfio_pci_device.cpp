// SPDX-License-Identifier: MIT
#include "driver/vfio/vfio_pci_device.hpp"

#include <linux/vfio.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "driver/nvme/hex_string.hpp"
#include "driver/vfio/bind_commands.hpp"
#include "driver/vfio/irq_affinity.hpp"
#include "driver/vfio/sysfs.hpp"

namespace convme::driver::vfio {

const char* vfio_mode_name(vfio_mode m) noexcept {
    switch (m) {
        case vfio_mode::iommu:
            return "iommu";
        case vfio_mode::noiommu:
            return "noiommu";
        case vfio_mode::automatic:
            break;
    }
    return "auto";
}

namespace {

constexpr std::uint16_t pci_command_offset = 0x04;
constexpr std::uint16_t pci_command_memory = 1u << 1;
constexpr std::uint16_t pci_command_master = 1u << 2;

bool is_pow2(std::size_t v) {
    return v && !(v & (v - 1));
}

void warn_noiommu_once(const std::string& bdf) {
    static std::atomic<bool> warned{false};
    if (warned.exchange(true)) return;
    std::fprintf(stderr,
                 "\n"
                 "****************************************************************************\n"
                 "* convme WARNING: VFIO no-IOMMU mode for %s\n"
                 "* There is NO IOMMU protection: the device can DMA anywhere in physical\n"
                 "* memory, and a bug or a malicious device can corrupt the whole machine.\n"
                 "* The kernel is tainted. Use only on a machine you are prepared to lose.\n"
                 "****************************************************************************\n\n",
                 bdf.c_str());
}

}  // namespace

std::unique_ptr<vfio_pci_device> vfio_pci_device::open(const vfio_open_options& opts, int& err,
                                                       std::string& why) {
    std::unique_ptr<vfio_pci_device> dev(new vfio_pci_device());
    err = dev->setup(opts, why);
    if (err != 0) return nullptr;
    return dev;
}

int vfio_pci_device::fail(int err, std::string why) noexcept {
    last_error_ = std::move(why);
    return err;
}

// Opening a function through VFIO: find its group and check the mode against it, attach the
// group to a container with an IOMMU (or no-IOMMU) backend, then open the device and its BARs.
int vfio_pci_device::setup(const vfio_open_options& opts, std::string& why) {
    bdf_ = opts.bdf;
    sys_root_ = opts.sys_root;
    proc_root_ = opts.proc_root;
    irq_affinity_ = opts.irq_affinity;
    group_location where;
    if (int rc = locate_group(opts, where, why); rc != 0) return rc;
    if (int rc = attach_group(opts, where, why); rc != 0) return rc;
    if (int rc = group_.open_device(bdf_, device_, why); rc != 0) return rc;
    if (int rc = setup_regions(why); rc != 0) return rc;

    hugepage_ = default_hugepage_size();
    hugepages_available_ = hugepage_ > base_page_size() && free_hugepages(hugepage_) > 0;
    if (where.noiommu)
        pool_ = std::make_unique<hugepage_pool>(hugepage_ > base_page_size() ? hugepage_
                                                                             : base_page_size());
    return 0;
}

// Which group node to open (/dev/vfio/N or /dev/vfio/noiommu-N), refused when it contradicts
// mode=iommu|noiommu.
int vfio_pci_device::locate_group(const vfio_open_options& opts, group_location& out,
                                  std::string& why) {
    const pci_function_info pf = read_pci_function(opts.sys_root, bdf_);
    if (!pf.exists) {
        why = "vfio " + bdf_ + ": no such PCI function under " +
              join_path(opts.sys_root, "bus/pci/devices") + " (check the address with lspci -D)";
        return -ENODEV;
    }
    if (pf.iommu_group < 0) {
        why = "vfio " + bdf_ + ": the device has no iommu_group; bind it to vfio-pci first (" +
              (pf.driver.empty() ? std::string("unbound") : "bound to " + pf.driver) + "):\n" +
              bind_to_vfio_commands(bdf_, pf.driver) +
              "\nWithout an IOMMU, vfio-pci only binds when vfio is loaded with "
              "enable_unsafe_noiommu_mode=1";
        return -ENODEV;
    }
    out.group = pf.iommu_group;
    const std::string group_no = std::to_string(pf.iommu_group);
    const std::string real_node = join_path(opts.dev_root, "vfio/" + group_no);
    const std::string noiommu_node = join_path(opts.dev_root, "vfio/noiommu-" + group_no);
    out.noiommu = pf.noiommu_group() || (!path_exists(real_node) && path_exists(noiommu_node));
    out.node = out.noiommu ? noiommu_node : real_node;
    if (opts.mode == vfio_mode::iommu && out.noiommu) {
        why = "vfio " + bdf_ + ": mode=iommu but group " + group_no +
              " is a no-IOMMU group (no IOMMU translates this device's DMA); use mode=noiommu to "
              "accept that, or enable the IOMMU (intel_iommu=on / amd_iommu=on / SMMU in firmware)";
        return -EINVAL;
    }
    if (opts.mode == vfio_mode::noiommu && !out.noiommu) {
        why = "vfio " + bdf_ + ": mode=noiommu but the device sits behind an IOMMU (group " +
              group_no +
              "); no-IOMMU mode only applies to devices without one. Use mode=iommu (or auto)";
        return -EINVAL;
    }
    return 0;
}

// Container + group (viable: every member on vfio-pci), the IOMMU backend and its IOVA ranges.
int vfio_pci_device::attach_group(const vfio_open_options& opts, const group_location& where,
                                  std::string& why) {
    if (int rc = container_.open(opts.dev_root, why); rc != 0) return rc;
    if (int rc = group_.open(where.node, why); rc != 0) return rc;

    bool viable = false;
    if (int rc = group_.viable(viable, why); rc != 0) return rc;
    if (!viable) {
        why = "vfio " + bdf_ + ": IOMMU group " + std::to_string(where.group) +
              " is not viable: every device in it must be bound to vfio-pci (or be unbound).";
        for (const auto& m : read_group_members(opts.sys_root, where.group)) {
            if (!member_blocks_vfio(m)) continue;
            why += "\n  " + m.bdf + " is bound to " + m.driver + "; move it with:\n" +
                   bind_to_vfio_commands(m.bdf, m.driver);
        }
        return -EBUSY;
    }
    if (int rc = group_.set_container(container_.fd(), why); rc != 0) return rc;
    if (int rc = container_.set_iommu(where.noiommu, why); rc != 0) return rc;

    if (where.noiommu) {
        warn_noiommu_once(bdf_);
        return 0;
    }
    if (int rc = container_.query_info(why); rc != 0) return rc;
    const iommu_info& info = container_.info();
    granule_ = info.granule(base_page_size());
    iova_ = iova_allocator(info.ranges.empty() ? default_iova_ranges() : info.ranges, granule_);
    if (iova_.free_bytes() == 0) {
        why = "VFIO_IOMMU_GET_INFO: the IOMMU reports no usable IOVA range";
        return -ENOSPC;
    }
    return 0;
}

int vfio_pci_device::setup_regions(std::string& why) {
    vfio_device_info di{};
    di.argsz = sizeof di;
    if (::ioctl(device_.get(), VFIO_DEVICE_GET_INFO, &di) != 0) {
        int err = errno;
        why = "VFIO_DEVICE_GET_INFO(" + bdf_ + "): " + std::strerror(err);
        return -err;
    }
    if (!(di.flags & VFIO_DEVICE_FLAGS_PCI) || di.num_regions <= VFIO_PCI_CONFIG_REGION_INDEX) {
        why = "VFIO_DEVICE_GET_INFO(" + bdf_ + "): not a vfio-pci device (flags " + hex(di.flags) +
              ")";
        return -ENODEV;
    }
    can_reset_ = (di.flags & VFIO_DEVICE_FLAGS_RESET) != 0;

    auto region = [&](std::uint32_t index, vfio_region_info& ri) -> int {
        ri = {};
        ri.argsz = sizeof ri;
        ri.index = index;
        if (::ioctl(device_.get(), VFIO_DEVICE_GET_REGION_INFO, &ri) != 0) {
            int err = errno;
            why = "VFIO_DEVICE_GET_REGION_INFO(" + bdf_ + ", region " + std::to_string(index) +
                  "): " + std::strerror(err);
            return -err;
        }
        return 0;
    };

    vfio_region_info bar{};
    if (int rc = region(VFIO_PCI_BAR0_REGION_INDEX, bar); rc != 0) return rc;
    if (bar.size < 0x1008 || !(bar.flags & VFIO_REGION_INFO_FLAG_READ) ||
        !(bar.flags & VFIO_REGION_INFO_FLAG_WRITE)) {
        why = "BAR0 of " + bdf_ + " is " + std::to_string(bar.size) + " bytes (flags " +
              hex(bar.flags) + "): too small or not read/write for NVMe registers";
        return -ENODEV;
    }
    bar_offset_ = bar.offset;
    bar_size_ = bar.size;
    if (bar.flags & VFIO_REGION_INFO_FLAG_MMAP) {
        void* p = ::mmap(nullptr, bar.size, PROT_READ | PROT_WRITE, MAP_SHARED, device_.get(),
                         static_cast<off_t>(bar.offset));
        // Refused (e.g. MSI-X table inside BAR0 on kernels that protect it): fall back to
        // pread/pwrite on the region, slower but correct.
        if (p != MAP_FAILED) bar_ = static_cast<volatile std::uint32_t*>(p);
    }

    vfio_region_info cfg{};
    if (int rc = region(VFIO_PCI_CONFIG_REGION_INDEX, cfg); rc != 0) return rc;
    config_offset_ = cfg.offset;
    config_size_ = cfg.size;

    // MSI-X vectors, for completion=interrupt|hybrid. Their absence only rules those modes out.
    vfio_irq_info irq{};
    irq.argsz = sizeof irq;
    irq.index = VFIO_PCI_MSIX_IRQ_INDEX;
    if (di.num_irqs <= VFIO_PCI_MSIX_IRQ_INDEX) {
        msix_why_ = "VFIO reports no MSI-X interrupt index for " + bdf_;
    } else if (::ioctl(device_.get(), VFIO_DEVICE_GET_IRQ_INFO, &irq) != 0) {
        msix_why_ = "VFIO_DEVICE_GET_IRQ_INFO(MSI-X) on " + bdf_ + ": " + std::strerror(errno);
    } else if (irq.count == 0) {
        msix_why_ = bdf_ + " has no MSI-X capability (VFIO_DEVICE_GET_IRQ_INFO: 0 vectors)";
    } else if (!(irq.flags & VFIO_IRQ_INFO_EVENTFD)) {
        msix_why_ = "VFIO cannot signal MSI-X of " + bdf_ + " through an eventfd";
    } else {
        msix_count_ = std::min<unsigned>(irq.count, 2048);
        locate_msix_table();
    }
    return 0;
}

void vfio_pci_device::locate_msix_table() {
    std::uint8_t config[256];
    if (int rc = config_read(0, config, sizeof config); rc != 0) {
        msix_mask_why_ = "reading the config space of " + bdf_ + ": " + std::strerror(-rc);
        return;
    }
    std::string why;
    const auto cap = find_msix_capability(config, why);
    if (!cap) {
        msix_mask_why_ = bdf_ + ": " + why;
    } else if (cap->table_bar != 0) {
        msix_mask_why_ = "the MSI-X table of " + bdf_ + " is in BAR" +
                         std::to_string(cap->table_bar) + "; only BAR0 is mapped";
    } else if (!bar_) {
        msix_mask_why_ = "BAR0 of " + bdf_ +
                         " is not mmapped (the kernel refused it; Linux >= 4.16 maps the MSI-X "
                         "table too), and vfio-pci drops read/write access to the table";
    } else if (msix_control_offset(*cap, static_cast<std::uint16_t>(msix_count_ - 1)) + 4 >
               bar_size_) {
        msix_mask_why_ = "the MSI-X table of " + bdf_ + " (" + std::to_string(cap->table_size) +
                         " vectors at " + hex(cap->table_offset) + ") runs past BAR0 (" +
                         std::to_string(bar_size_) + " bytes)";
    } else {
        msix_control_ = bar_ + msix_control_offset(*cap, 0) / 4;
        msix_control_value_.assign(msix_count_, 0);
        msix_mask_why_.clear();
    }
}

void vfio_pci_device::mask_irq(std::uint16_t vector, bool masked) noexcept {
    if (!msix_control_ || vector >= msix_count_) return;
    // A posted MMIO write: the function sends what became pending while masked once it sees
    // the bit clear, so nothing waits for this write to land.
    msix_control_[vector * 4u] = msix_control_value_[vector] | (masked ? msix_mask_bit : 0u);
}

int vfio_pci_device::set_irqs(std::uint32_t start, std::uint32_t count, const int* fds) noexcept {
    std::vector<std::byte> buf(sizeof(vfio_irq_set) + sizeof(std::int32_t) * count);
    auto* s = reinterpret_cast<vfio_irq_set*>(buf.data());
    s->argsz = static_cast<std::uint32_t>(buf.size());
    s->flags =
        (count ? VFIO_IRQ_SET_DATA_EVENTFD : VFIO_IRQ_SET_DATA_NONE) | VFIO_IRQ_SET_ACTION_TRIGGER;
    s->index = VFIO_PCI_MSIX_IRQ_INDEX;
    s->start = start;
    s->count = count;
    for (std::uint32_t i = 0; i < count; ++i) {
        const std::int32_t fd = fds[i];
        std::memcpy(buf.data() + sizeof(vfio_irq_set) + i * sizeof fd, &fd, sizeof fd);
    }
    if (::ioctl(device_.get(), VFIO_DEVICE_SET_IRQS, s) != 0) return -errno;
    return 0;
}

int vfio_pci_device::bind_irq_eventfd(std::uint16_t vector, int efd) noexcept {
    try {
        std::lock_guard guard(irq_mu_);
        if (vector >= msix_count_)
            return fail(-EINVAL, "MSI-X vector " + std::to_string(vector) + " of " + bdf_ +
                                     ": the function has " + std::to_string(msix_count_) +
                                     (msix_why_.empty() ? "" : " (" + msix_why_ + ")"));
        if (!msix_enabled_) {
            if (efd < 0) return 0;
            // First use: enable every vector at once, all unrouted (-1) but this one.
            std::vector<int> fds(msix_count_, -1);
            fds[vector] = efd;
            if (int rc = set_irqs(0, msix_count_, fds.data()); rc != 0)
                return fail(
                    rc, "VFIO_DEVICE_SET_IRQS (enable " + std::to_string(msix_count_) +
                            " MSI-X vectors of " + bdf_ + "): " + std::strerror(-rc) +
                            " (interrupt remapping / MSI isolation missing? see convme doctor)");
            msix_enabled_ = true;
            remember_control(vector);
            return 0;
        }
        if (int rc = set_irqs(vector, 1, &efd); rc != 0)
            return fail(rc, "VFIO_DEVICE_SET_IRQS (MSI-X vector " + std::to_string(vector) +
                                " of " + bdf_ + "): " + std::strerror(-rc));
        remember_control(vector);
        return 0;
    } catch (const std::bad_alloc&) {
        return fail(-ENOMEM, "bind_irq_eventfd: out of memory");
    }
}

void vfio_pci_device::steer_irq_to_caller(std::uint16_t vector) noexcept {
    if (!irq_affinity_) return;
    try {
        const std::vector<unsigned> cpus = calling_thread_cpus();
        unsigned cpu = 0;
        std::string why;
        const int rc = steer_vector(proc_root_, sys_root_, bdf_, vector, cpus, cpu, why);
        std::lock_guard guard(irq_mu_);
        if (rc == 0) {
            steered_[vector] = cpu;  // a queue re-created after a reset steers again
        } else if (steer_failed_.empty()) {
            steer_failed_ = "vector " + std::to_string(vector) + ": " + why;
            // Said once per device: the queue works, its interrupts may land on another CPU.
            std::fprintf(stderr, "convme: vfio %s: irq affinity not set: %s\n", bdf_.c_str(),
                         steer_failed_.c_str());
        }
    } catch (const std::bad_alloc&) {
    }
}

std::string vfio_pci_device::irq_affinity_note() const {
    if (!irq_affinity_) return "irq affinity=off";
    std::lock_guard guard(irq_mu_);
    if (!steer_failed_.empty()) return "irq affinity not set: " + steer_failed_;
    if (!steered_.empty()) {
        std::string list;
        for (const auto& [v, cpu] : steered_)
            list += (list.empty() ? "vector " : ", vector ") + std::to_string(v) + " -> cpu " +
                    std::to_string(cpu);
        return "irq affinity: steered to loop CPUs (" + list + ")";
    }
    return "irq affinity=loop";
}

vfio_pci_device::~vfio_pci_device() {
    if (msix_enabled_) (void)set_irqs(0, 0, nullptr);  // disable MSI-X: drops every eventfd
    if (bar_) ::munmap(const_cast<std::uint32_t*>(bar_), bar_size_);
    bar_ = nullptr;
    std::unique_lock guard(lock_);
    for (auto& m : table_.take_all()) {
        if (!noiommu()) container_.unmap_dma(m.iova, m.length);
    }
    for (auto& [cookie, block] : blocks_) release_locked(block);
    blocks_.clear();
    pieces_.clear();
    pool_.reset();
    // Members close in reverse order: device fd, group (detaches from the container), container.
}

std::string vfio_pci_device::name() const {
    return bdf_ + " (vfio " + iommu_kind_name(container_.kind()) + ")";
}

std::uint32_t vfio_pci_device::read32(std::uint32_t offset) noexcept {
    if (bar_ && offset + 4 <= bar_size_) return bar_[offset / 4];
    std::uint32_t v = 0xffffffffu;  // what a vanished device reads as
    if (offset + 4 > bar_size_ ||
        ::pread(device_.get(), &v, sizeof v, static_cast<off_t>(bar_offset_ + offset)) != sizeof v)
        return 0xffffffffu;
    return v;
}

void vfio_pci_device::write32(std::uint32_t offset, std::uint32_t value) noexcept {
    if (offset + 4 > bar_size_) return;
    if (bar_) {
        bar_[offset / 4] = value;
        return;
    }
    if (::pwrite(device_.get(), &value, sizeof value, static_cast<off_t>(bar_offset_ + offset)) !=
        sizeof value)
        last_error_ = "pwrite BAR0+" + hex(offset) + ": " + std::strerror(errno);
}

int vfio_pci_device::config_read(std::uint32_t offset, void* buf, std::size_t len) noexcept {
    if (offset + len > config_size_) return -EINVAL;
    ssize_t n = ::pread(device_.get(), buf, len, static_cast<off_t>(config_offset_ + offset));
    if (n != static_cast<ssize_t>(len)) return n < 0 ? -errno : -EIO;
    return 0;
}

int vfio_pci_device::config_write(std::uint32_t offset, const void* buf, std::size_t len) noexcept {
    if (offset + len > config_size_) return -EINVAL;
    ssize_t n = ::pwrite(device_.get(), buf, len, static_cast<off_t>(config_offset_ + offset));
    if (n != static_cast<ssize_t>(len)) return n < 0 ? -errno : -EIO;
    return 0;
}

int vfio_pci_device::enable_bus_master() noexcept {
    std::uint16_t cmd = 0;
    if (int rc = config_read(pci_command_offset, &cmd, sizeof cmd); rc != 0)
        return fail(rc, "reading the PCI command register of " + bdf_ + ": " + std::strerror(-rc));
    cmd |= pci_command_memory | pci_command_master;
    if (int rc = config_write(pci_command_offset, &cmd, sizeof cmd); rc != 0)
        return fail(rc, "writing the PCI command register of " + bdf_ + ": " + std::strerror(-rc));
    std::uint16_t check = 0;
    if (config_read(pci_command_offset, &check, sizeof check) == 0 && !(check & pci_command_master))
        return fail(-EIO, "bus mastering did not stick on " + bdf_ + " (command register " +
                              hex(check) + ")");
    return 0;
}

int vfio_pci_device::function_reset() noexcept {
    if (!can_reset_)
        return fail(-ENOTSUP,
                    "VFIO reports no reset method for " + bdf_ + " (no FLR/PM/bus reset)");
    if (::ioctl(device_.get(), VFIO_DEVICE_RESET) != 0) {
        int err = errno;
        return fail(-err, "VFIO_DEVICE_RESET(" + bdf_ + "): " + std::strerror(err));
    }
    return 0;
}

std::size_t vfio_pci_device::max_contiguous_dma() const noexcept {
    if (!noiommu()) return SIZE_MAX;
    // No-IOMMU DMA memory is carved out of hugepages (see dma_memory.hpp): one is contiguous.
    return hugepage_ > base_page_size() ? hugepage_ : base_page_size();
}

int vfio_pci_device::map_block_iommu(std::uintptr_t start, std::size_t length, std::size_t align,
                                     std::uint64_t& iova, std::string& why) noexcept {
    if (int rc = iova_.allocate(length, align, iova); rc != 0) {
        why = "IOVA allocation of " + std::to_string(length) + " bytes: " + std::strerror(-rc) +
              " (the usable IOVA ranges are exhausted; " + std::to_string(iova_.free_bytes()) +
              " bytes free in fragments)";
        return rc;
    }
    if (int rc = container_.map_dma(start, iova, length, why); rc != 0) {
        iova_.release(iova, length);
        return rc;
    }
    return 0;
}

int vfio_pci_device::alloc_dma(std::size_t size, std::size_t align, dma_region& out) noexcept {
    out = {};
    const std::size_t page = base_page_size();
    if (align == 0) align = page;
    if (size == 0 || !is_pow2(align))
        return fail(-EINVAL, "alloc_dma(" + std::to_string(size) + ", align " +
                                 std::to_string(align) +
                                 "): size must be > 0 and align a power of two");
    std::string why;
    try {
        std::unique_lock guard(lock_);
        page_block block;
        std::uintptr_t start = 0;
        std::size_t length = 0;
        std::uint64_t iova = 0;
        if (noiommu()) {
            // The device sees physical addresses: the region must be physically contiguous and
            // must never move. Hugetlbfs pages are both (mlock'ed anonymous pages are neither
            // contiguous beyond one page nor safe from compaction), so everything comes from them.
            if (!pool_ || hugepage_ <= page) {
                return fail(
                    -ENOMEM,
                    "alloc_dma(" + std::to_string(size) +
                        "): no-IOMMU mode needs hugepages for its DMA memory and this system "
                        "has none configured; reserve some: echo 64 > /proc/sys/vm/nr_hugepages");
            }
            hugepage_piece piece;
            if (int rc = pool_->allocate(size, align, piece, why); rc != 0) {
                return fail(
                    rc, "alloc_dma: " + why +
                            (rc == -ENOMEM ? "; reserve more: echo 64 > /proc/sys/vm/nr_hugepages"
                                           : ""));
            }
            start = reinterpret_cast<std::uintptr_t>(piece.addr);
            length = piece.size;
            iova = piece.phys;
            pieces_.emplace(next_cookie_, piece);
        } else {
            const bool big = hugepages_available_ && size >= hugepage_ / 2;
            // When the IOMMU page is larger than the host page, over-allocate so the mapping can
            // start on an IOMMU page boundary.
            const std::size_t rounded = (size + granule_ - 1) / granule_ * granule_;
            const std::size_t extra = granule_ > page ? granule_ : 0;
            if (int rc = allocate_locked(rounded + extra, big, false, block, why); rc != 0)
                return fail(rc, "alloc_dma: " + why);
            start = (reinterpret_cast<std::uintptr_t>(block.addr) + granule_ - 1) & ~(granule_ - 1);
            length = rounded;
            if (int rc = map_block_iommu(start, length, align, iova, why); rc != 0) {
                release_locked(block);
                return fail(rc, "alloc_dma: " + why);
            }
        }
        const std::uint64_t cookie = next_cookie_++;
        dma_mapping m;
        m.user = start;
        m.user_size = size;
        m.start = start;
        m.length = length;
        m.iova = iova;
        m.handle = cookie;
        table_.insert(std::move(m));
        blocks_.emplace(cookie, block);
        out.vaddr = reinterpret_cast<void*>(start);
        out.iova = iova;
        out.size = size;
        out.cookie = cookie;
        return 0;
    } catch (const std::exception& e) {
        return fail(-ENOMEM, std::string("alloc_dma: ") + e.what());
    }
}

void vfio_pci_device::free_dma(dma_region& region) noexcept {
    if (region.cookie == 0) return;
    try {
        std::unique_lock guard(lock_);
        if (auto m = table_.remove_handle(region.cookie)) {
            if (!noiommu()) {
                container_.unmap_dma(m->iova, m->length);
                iova_.release(m->iova, m->length);
            }
        }
        if (auto it = blocks_.find(region.cookie); it != blocks_.end()) {
            release_locked(it->second);
            blocks_.erase(it);
        }
        if (auto it = pieces_.find(region.cookie); it != pieces_.end()) {
            pool_->release(it->second);
            pieces_.erase(it);
        }
    } catch (...) {
    }
    region = {};
}

int vfio_pci_device::map_dma(void* vaddr, std::size_t size) noexcept {
    if (!vaddr || size == 0) return fail(-EINVAL, "map_dma: null address or zero size");
    std::string why;
    try {
        std::unique_lock guard(lock_);
        const std::size_t unit = noiommu() ? base_page_size() : granule_;
        const auto user = reinterpret_cast<std::uintptr_t>(vaddr);
        dma_mapping m;
        m.user = user;
        m.user_size = size;
        m.start = user & ~(unit - 1);
        m.length = ((user + size + unit - 1) & ~(unit - 1)) - m.start;
        // In every mode: no copy-on-write of these pages after a fork() while the device uses them.
        if (int rc = dontfork_range(vaddr, size, why); rc != 0) return fail(rc, "map_dma: " + why);
        if (noiommu()) {
            // Lock so the physical pages stay resident, then record each page's physical
            // address. Compaction may still migrate mlocked pages unless
            // vm.compact_unevictable_allowed=0, which the doctor requires for no-IOMMU mode.
            if (int rc = lock_range(vaddr, size, why); rc != 0) return fail(rc, "map_dma: " + why);
            m.page = unit;
            m.pages.reserve(m.length / unit);
            for (std::uintptr_t p = m.start; p < m.start + m.length; p += unit) {
                std::uint64_t phys = 0;
                if (int rc = virt_to_phys(reinterpret_cast<const void*>(p), phys, why); rc != 0)
                    return fail(rc, "map_dma: " + why);
                m.pages.push_back(phys);
            }
        } else {
            // VFIO pins the pages itself (accounted against RLIMIT_MEMLOCK).
            if (int rc = map_block_iommu(m.start, m.length, unit, m.iova, why); rc != 0)
                return fail(rc, "map_dma: " + why);
        }
        table_.insert(std::move(m));
        return 0;
    } catch (const std::exception& e) {
        return fail(-ENOMEM, std::string("map_dma: ") + e.what());
    }
}

int vfio_pci_device::unmap_dma(void* vaddr, std::size_t size) noexcept {
    try {
        std::unique_lock guard(lock_);
        auto m = table_.remove(reinterpret_cast<std::uintptr_t>(vaddr), size);
        if (!m) return fail(-EINVAL, "unmap_dma: range was not mapped with map_dma");
        if (!noiommu()) {
            if (int rc = container_.unmap_dma(m->iova, m->length); rc != 0)
                return fail(rc, std::string("VFIO_IOMMU_UNMAP_DMA: ") + std::strerror(-rc));
            iova_.release(m->iova, m->length);
        }
        // No-IOMMU: the pages stay locked. mlock does not nest, so unlocking here could unlock
        // memory its owner (a dma_buffer) locked on purpose; the owner's munmap releases it.
        return 0;
    } catch (const std::exception& e) {
        return fail(-ENOMEM, std::string("unmap_dma: ") + e.what());
    }
}

int vfio_pci_device::translate(const void* vaddr, std::uint64_t& iova) const noexcept {
    try {
        std::shared_lock guard(lock_);
        if (auto r = table_.translate(vaddr)) {
            iova = *r;
            return 0;
        }
    } catch (...) {
    }
    return -EFAULT;
}

}  // namespace convme::driver::vfio
