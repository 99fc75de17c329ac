// SPDX-License-Identifier: MIT
// PCI addresses ("BDF"): domain:bus:device.function, e.g. 0000:01:00.0. Users often type the short
// form 01:00.0; sysfs and VFIO want the full lower-case form.
#pragma once

#include <string>
#include <string_view>

namespace convme::driver::vfio {

// Accepts "DDDD:BB:DD.F" or "BB:DD.F" (hex, any case). On success writes the canonical
// "dddd:bb:dd.f" form and returns true; otherwise fills why.
bool normalize_bdf(std::string_view text, std::string& out, std::string& why);

}  // namespace convme::driver::vfio
