#!/usr/bin/env bash
# make package: builds what `sam deploy` uploads, the way a shop owner builds it: `sam build`
# (cargo-lambda, arm64 release, every function) into .aws-sam/build, then checks each
# function's bootstrap (there, an aarch64 ELF, under 8 MB) and prints the sizes.
# Needs cargo-lambda and the SAM CLI on PATH (the Makefile puts its virtualenvs there).
set -euo pipefail
cd "$(dirname "$0")/../.."

# cargo-lambda builds without --locked: refuse a Cargo.lock that the build would have to change.
cargo metadata --locked --format-version 1 > /dev/null
if command -v rustup > /dev/null && ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
  rustup target add aarch64-unknown-linux-gnu
fi

started=$SECONDS
sam build --template template.yaml
echo "sam build: $((SECONDS - started)) s"
"${PACKAGE_PYTHON:-python3}" infra/scripts/check_package.py template.yaml .aws-sam/build
