// PLACEHOLDER until the VFIO layer lands (owned by the VFIO work).
#include "runtime/backends/factories.hpp"
namespace convme::backends {
std::unique_ptr<block_device> make_vfio_device(const device_uri&, std::error_code& ec, std::string& why) {
    ec = make_error_code(errc::unsupported);
    why = "vfio: backend not built yet";
    return nullptr;
}
}  // namespace convme::backends
