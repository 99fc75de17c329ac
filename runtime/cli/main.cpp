// SPDX-License-Identifier: MIT
// convme: command line front end.
//   convme doctor [BDF] [--root DIR] [--mode auto|iommu|noiommu]   VFIO preflight report
//   convme info URI                                                 open a device, print its
//   geometry convme io URI [--write] [--read] [--verify] [--blocks N] ...    data smoke test
#include <CLI/CLI.hpp>

#include "runtime/cli/commands.hpp"

int main(int argc, char** argv) {
    CLI::App app{"convme: user-space NVMe runtime tool (VFIO doctor, device info, I/O smoke test)"};
    app.require_subcommand(1);
    int rc = 0;

    convme::cli::doctor_args d;
    auto* doctor = app.add_subcommand(
        "doctor", "check that VFIO can drive an NVMe device (exit 1 on fatal findings)");
    doctor->add_option("bdf", d.bdf, "PCI address of the NVMe controller, e.g. 0000:01:00.0");
    doctor->add_option("--root", d.root,
                       "look for sys/, dev/ and proc/ under DIR (tests, chroots)");
    doctor->add_option("--mode", d.mode, "intended DMA isolation mode")
        ->check(CLI::IsMember({"auto", "iommu", "noiommu"}));
    doctor->add_flag("--problems", d.problems_only, "print only warnings and fatal findings");
    doctor->callback([&] { rc = convme::cli::run_doctor_command(d); });

    std::string info_uri;
    auto* info = app.add_subcommand("info", "open a device by URI and print what it is");
    info->add_option("uri", info_uri,
                     "device URI: vfio:0000:01:00.0, sim:mem?size=64M, uring:/path ...")
        ->required();
    info->callback([&] { rc = convme::cli::run_info_command(info_uri); });

    convme::cli::io_args io;
    auto* iocmd =
        app.add_subcommand("io", "write a deterministic pattern and/or read it back and verify");
    iocmd->add_option("uri", io.uri, "device URI")->required();
    iocmd->add_flag("--write", io.write, "write the pattern");
    iocmd->add_flag("--read", io.read, "read the range (timing only)");
    iocmd->add_flag("--verify", io.verify, "read the range and compare with the pattern");
    iocmd->add_option("--offset", io.offset, "byte offset (multiple of the block size)");
    iocmd->add_option("--blocks", io.blocks, "number of logical blocks")
        ->check(CLI::PositiveNumber);
    iocmd->add_option("--chunk", io.chunk_blocks, "blocks per I/O (default: up to 256 KiB)");
    iocmd->add_option("--seed", io.seed, "pattern seed (use the same one to verify later)");
    iocmd->add_option("--qd", io.queue_depth, "I/Os in flight")->check(CLI::Range(1u, 1024u));
    iocmd->callback([&] { rc = convme::cli::run_io_command(io); });

    CLI11_PARSE(app, argc, argv);
    return rc;
}
