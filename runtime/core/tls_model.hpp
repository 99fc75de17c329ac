// SPDX-License-Identifier: MIT
// The library is static and linked into executables, so its thread_locals can use the
// initial-exec TLS model: a fixed offset from the thread pointer instead of a __tls_get_addr call
// per access (the default for -fPIC code). This matters on the frame-pool and loop::current()
// hot paths.
#pragma once

#define CONVME_FAST_TLS __attribute__((tls_model("initial-exec")))
