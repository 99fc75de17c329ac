// SPDX-License-Identifier: MIT
// Text rendering of doctor findings: a status column, then the message, with why/fix indented
// under it so multi-line command blocks stay copy-pasteable.
#include <sstream>

#include "driver/vfio/doctor/doctor.hpp"

namespace convme::driver {

const char* severity_name(finding::severity s) noexcept {
    switch (s) {
        case finding::ok:
            return "ok";
        case finding::info:
            return "info";
        case finding::warning:
            return "warning";
        case finding::fatal:
            return "FATAL";
    }
    return "?";
}

namespace {

const char* tag(finding::severity s) {
    switch (s) {
        case finding::ok:
            return "[  ok  ]";
        case finding::info:
            return "[ info ]";
        case finding::warning:
            return "[ warn ]";
        case finding::fatal:
            return "[FATAL ]";
    }
    return "[  ?   ]";
}

void block(std::ostringstream& os, const char* label, const std::string& text) {
    if (text.empty()) return;
    const std::string indent(9, ' ');
    std::istringstream lines(text);
    std::string line;
    bool first = true;
    while (std::getline(lines, line)) {
        os << indent << (first ? label : "     ") << line << '\n';
        first = false;
    }
}

}  // namespace

std::string format_findings(const std::vector<finding>& findings, bool only_problems) {
    std::ostringstream os;
    int fatal = 0, warn = 0;
    for (const auto& f : findings) {
        if (f.level == finding::fatal) ++fatal;
        if (f.level == finding::warning) ++warn;
        if (only_problems && (f.level == finding::ok || f.level == finding::info)) continue;
        os << tag(f.level) << ' ' << f.what << '\n';
        block(os, "why: ", f.why);
        block(os, "fix: ", f.fix);
    }
    if (!only_problems)
        os << "\n"
           << fatal << " fatal, " << warn << " warning(s): "
           << (fatal ? "VFIO is NOT usable until the fatal findings are fixed"
                     : "VFIO preflight passed")
           << '\n';
    return os.str();
}

}  // namespace convme::driver
