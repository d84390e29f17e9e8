#!/usr/bin/env python3
"""After `sam build`: every AWS::Serverless::Function of the template has its bootstrap in the
build directory, an aarch64 ELF executable (what Lambda's arm64 runs) under the size budget.
Prints each size; exits 1 naming what is wrong. Runs with the lint virtualenv's Python (the
SAM CLI's YAML loader reads the template's short-form tags).

Usage: check_package.py TEMPLATE BUILD_DIR"""

from __future__ import annotations

import os
import struct
import sys

from samcli.yamlhelper import yaml_parse

MAX_BYTES = 8 * 1024 * 1024
EM_AARCH64 = 183


def elf_machine(path: str) -> str | None:
    """'aarch64' for a 64-bit little-endian aarch64 ELF, a description of what it is otherwise."""
    with open(path, "rb") as f:
        header = f.read(20)
    if len(header) < 20 or header[:4] != b"\x7fELF":
        return "not an ELF file"
    if header[4] != 2 or header[5] != 1:
        return "not a 64-bit little-endian ELF"
    (machine,) = struct.unpack_from("<H", header, 18)
    return None if machine == EM_AARCH64 else f"an ELF for machine {machine}, not aarch64 ({EM_AARCH64})"


def main(template_path: str, build_dir: str) -> int:
    with open(template_path, encoding="utf-8") as f:
        resources = yaml_parse(f.read()).get("Resources", {})
    functions = [
        name for name, r in resources.items() if r.get("Type") == "AWS::Serverless::Function"
    ]
    if not functions:
        print(f"{template_path} has no AWS::Serverless::Function", file=sys.stderr)
        return 1
    problems = []
    print(f"{'function':<24} {'bootstrap bytes':>16} {'MB':>6}")
    for name in functions:
        bootstrap = os.path.join(build_dir, name, "bootstrap")
        if not os.path.isfile(bootstrap):
            problems.append(f"{name}: {bootstrap} is missing")
            continue
        size = os.path.getsize(bootstrap)
        print(f"{name:<24} {size:>16} {size / 1048576:>6.2f}")
        wrong = elf_machine(bootstrap)
        if wrong:
            problems.append(f"{name}: {bootstrap} is {wrong}")
        if not os.access(bootstrap, os.X_OK):
            problems.append(f"{name}: {bootstrap} is not executable")
        if size >= MAX_BYTES:
            problems.append(f"{name}: {bootstrap} is {size} bytes, over the {MAX_BYTES} byte budget")
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))
