// SPDX-License-Identifier: MIT
// Must NOT compile: the core layer cannot see the driver (tests/CMakeLists.txt builds this with
// convme_core's include path and expects the build to fail).
#include "driver/nvme/controller.hpp"
