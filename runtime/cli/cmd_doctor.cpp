// SPDX-License-Identifier: MIT
#include <cstdio>

#include "driver/vfio/doctor/doctor.hpp"
#include "runtime/cli/commands.hpp"

namespace convme::cli {

int run_doctor_command(const doctor_args& a) {
    driver::doctor_options o =
        a.root.empty() ? driver::doctor_options{} : driver::doctor_options::under(a.root);
    o.bdf = a.bdf;
    o.mode = a.mode;
    const auto findings = driver::run_doctor(o);
    std::fputs(driver::format_findings(findings, a.problems_only).c_str(), stdout);
    return driver::has_fatal(findings) ? 1 : 0;
}

}  // namespace convme::cli
