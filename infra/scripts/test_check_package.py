"""make package's bootstrap check on files whose kind is known. Run by `make template-check`."""

from __future__ import annotations

import os
import struct
import tempfile
import unittest

import check_package


def elf(machine: int, elf_class: int = 2) -> bytes:
    """An ELF header: magic, class, little-endian, version, padding, type EXEC, machine."""
    return b"\x7fELF" + bytes([elf_class, 1, 1]) + bytes(9) + struct.pack("<HH", 2, machine) + bytes(44)


class CheckPackageTest(unittest.TestCase):
    def written(self, content: bytes) -> str:
        f = tempfile.NamedTemporaryFile(delete=False)
        f.write(content)
        f.close()
        self.addCleanup(os.unlink, f.name)
        return f.name

    def test_an_aarch64_executable_passes(self):
        self.assertIsNone(check_package.elf_machine(self.written(elf(183))))

    def test_an_x86_64_or_32_bit_or_non_elf_file_is_named_for_what_it_is(self):
        self.assertIn("machine 62", check_package.elf_machine(self.written(elf(62))))
        self.assertIn("64-bit", check_package.elf_machine(self.written(elf(183, elf_class=1))))
        self.assertEqual(check_package.elf_machine(self.written(b"#!/bin/sh\n")), "not an ELF file")


if __name__ == "__main__":
    unittest.main()
