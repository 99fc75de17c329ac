// SPDX-License-Identifier: MIT
// Steering an MSI-X vector of a vfio-pci function to the CPU its loop runs on (irq_affinity=loop).
//
// vfio-pci requests one host IRQ per enabled MSI-X vector and names it
// "vfio-msix[V](DDDD:BB:DD.F)" in /proc/interrupts. Its affinity starts as the kernel's default
// (often all CPUs, delivered to whichever the interrupt controller picks), so the eventfd signal
// and the wake-up of the loop sleeping on it may happen on another CPU than the loop's, adding an
// inter-processor wake-up to every interrupt. Writing the loop's CPU to
// /proc/irq/IRQ/smp_affinity_list keeps both on one CPU, as managed affinity does for the
// kernel's own nvme driver. Best effort: it needs root (CAP_SYS_ADMIN), the kernel refuses
// managed or per-CPU IRQs (EIO), and it only makes sense when the loop's thread is pinned to one
// CPU. Every function takes the proc / sys mount points so tests can point them at a fake tree.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace convme::driver::vfio {

// The host IRQ of vector `vector` of `bdf` (canonical "0000:01:00.0") in the text of
// /proc/interrupts ("  35:  0  1751  PCI-MSI 1048577-edge  vfio-msix[1](0000:00:04.0)"), or
// nullopt when no line names it.
std::optional<unsigned> find_vfio_msix_irq(std::string_view proc_interrupts, const std::string& bdf,
                                           unsigned vector);

// The IRQ numbers listed in /sys/bus/pci/devices/BDF/msi_irqs/, in ascending order (the kernel
// allocates a function's MSI-X IRQs in vector order, so index V is vector V's). Empty when the
// directory is missing or has no numeric entries.
std::vector<unsigned> list_msi_irqs(const std::string& sys_root, const std::string& bdf);

// Vector `vector`'s host IRQ: /proc/interrupts first (it names the vector), else msi_irqs/ by
// position. nullopt with why when neither knows it.
std::optional<unsigned> host_irq_of_vector(const std::string& proc_root,
                                           const std::string& sys_root, const std::string& bdf,
                                           unsigned vector, std::string& why);

// The one CPU in `cpus` (the calling thread's sched_getaffinity), or nullopt with why ("the loop
// may run on 4 CPUs (not pinned)") when there are none or several.
std::optional<unsigned> single_cpu(const std::vector<unsigned>& cpus, std::string& why);
// The CPUs the calling thread may run on (sched_getaffinity); empty on failure.
std::vector<unsigned> calling_thread_cpus();

// Writes `cpu` to PROC/irq/IRQ/smp_affinity_list. 0 or -errno with why (EACCES/EPERM: needs root;
// EIO: the kernel manages this IRQ's affinity).
int write_irq_affinity(const std::string& proc_root, unsigned irq, unsigned cpu, std::string& why);

// The whole decision for one vector, on the queue's owning loop thread whose CPUs are `cpus`:
// pinned to one CPU -> find the IRQ -> write it. 0 with *steered_cpu set on success, else -errno
// (-EINVAL when the thread is not pinned) with why.
int steer_vector(const std::string& proc_root, const std::string& sys_root, const std::string& bdf,
                 unsigned vector, const std::vector<unsigned>& cpus, unsigned& steered_cpu,
                 std::string& why);

}  // namespace convme::driver::vfio
