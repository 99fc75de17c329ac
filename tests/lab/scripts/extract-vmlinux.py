#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""extract-vmlinux.py BZIMAGE OUT: write the ELF kernel inside an x86 bzImage to OUT.

The boot protocol header says where the compressed payload is (setup_sects at 0x1f1,
payload_offset at 0x248, payload_length at 0x24c); Debian compresses it with xz. QEMU can boot
the resulting ELF directly through its PVH entry note."""
import lzma
import struct
import sys


def main() -> int:
    src, dst = sys.argv[1], sys.argv[2]
    data = open(src, "rb").read()
    if data[0x202:0x206] != b"HdrS":
        sys.exit(f"{src}: not a bzImage (no HdrS boot header)")
    setup_sects = data[0x1F1] or 4
    payload_offset, payload_length = struct.unpack_from("<II", data, 0x248)
    start = (setup_sects + 1) * 512 + payload_offset
    payload = data[start:start + payload_length]
    try:
        elf = lzma.LZMADecompressor(format=lzma.FORMAT_AUTO).decompress(payload)
    except lzma.LZMAError as e:
        sys.exit(f"{src}: payload is not xz/lzma ({e}); boot the bzImage instead")
    if elf[:4] != b"\x7fELF":
        sys.exit(f"{src}: decompressed payload is not an ELF image")
    with open(dst, "wb") as f:
        f.write(elf)
    print(f"extracted {len(elf)} byte ELF vmlinux from {src}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
