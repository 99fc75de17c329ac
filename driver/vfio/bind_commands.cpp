// SPDX-License-Identifier: MIT
#include "driver/vfio/bind_commands.hpp"

namespace convme::driver::vfio {

std::string bind_to_vfio_commands(const std::string& bdf, const std::string& current_driver) {
    const std::string dev = "/sys/bus/pci/devices/" + bdf;
    std::string s = "modprobe vfio-pci\n";
    if (!current_driver.empty())
        s += "echo " + bdf + " > " + dev + "/driver/unbind    # detaches it from " +
             current_driver + "\n";
    s += "echo vfio-pci > " + dev + "/driver_override\n";
    s += "echo " + bdf + " > /sys/bus/pci/drivers_probe";
    return s;
}

std::string bind_back_commands(const std::string& bdf, const std::string& kernel_driver) {
    const std::string dev = "/sys/bus/pci/devices/" + bdf;
    return "echo " + bdf + " > /sys/bus/pci/drivers/vfio-pci/unbind\n" + "echo > " + dev +
           "/driver_override    # clears the override\n" + "echo " + bdf +
           " > /sys/bus/pci/drivers_probe    # " +
           (kernel_driver.empty() ? std::string("rebinds the kernel driver")
                                  : kernel_driver + " takes it back");
}

}  // namespace convme::driver::vfio
