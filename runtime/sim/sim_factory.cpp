// PLACEHOLDER until the simulated controller lands (owned by the driver/sim work).
#include "runtime/backends/factories.hpp"
namespace convme::backends {
std::unique_ptr<block_device> make_sim_device(const device_uri&, std::error_code& ec, std::string& why) {
    ec = make_error_code(errc::unsupported);
    why = "sim: backend not built yet";
    return nullptr;
}
}  // namespace convme::backends
