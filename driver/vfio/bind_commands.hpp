// SPDX-License-Identifier: MIT
// The exact shell commands to hand a PCI function to vfio-pci (and back), shown by the doctor and
// by open errors.
#pragma once

#include <string>

namespace convme::driver::vfio {

// Commands to move `bdf` (currently bound to `current_driver`, empty if unbound) to vfio-pci.
std::string bind_to_vfio_commands(const std::string& bdf, const std::string& current_driver);
// Commands to give `bdf` back to its kernel driver (e.g. nvme) after using it with VFIO.
std::string bind_back_commands(const std::string& bdf, const std::string& kernel_driver);

}  // namespace convme::driver::vfio
