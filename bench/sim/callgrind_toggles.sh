# SPDX-License-Identifier: MIT
# Sourced by bench/sim/instructions.sh and bench/callgrind_guard.sh: the one definition of what
# callgrind counts per I/O. Toggles flip collection. The device model is the simulator's own
# poller (simulated_controller::step(), run by it in inline mode, never by the driver) and the
# sim's IOVA table behind pci_device::translate: the driver-only count (collection on only inside
# the driver's entry points) excludes only the IOVA table, which the driver calls; the
# whole-stack count excludes both.
driver_model_excluded=(--toggle-collect='convme::sim::iova_space::translate(*')
stack_model_excluded=(--toggle-collect='convme::sim::simulated_controller::step()'
                      --toggle-collect='convme::sim::iova_space::translate(*')
driver_entries=(--toggle-collect='convme::driver::nvme_device::submit(*'
                --toggle-collect='convme::driver::io_queue::poll()'
                --toggle-collect='convme::driver::io_queue::flush_submissions()')
stack_entries=(--toggle-collect='convme::loop::run_once()')
