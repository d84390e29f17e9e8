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

# Every function's binary in one cargo invocation first: the shared crates build once and the
# LTO links run side by side. sam build then runs its own `cargo lambda build --bin <name>` per
# function, which finds each binary fresh (the same workspace, features and flags) and copies it.
bins=$(awk '/BuildProperties:/ {getline; if ($1 == "Binary:") print "--bin " $2}' template.yaml)
started=$SECONDS
# shellcheck disable=SC2086
cargo lambda build --release --arm64 $bins
echo "cargo lambda build (every function): $((SECONDS - started)) s"
started=$SECONDS
sam build --template template.yaml
echo "sam build: $((SECONDS - started)) s"
"${PACKAGE_PYTHON:-python3}" infra/scripts/check_package.py template.yaml .aws-sam/build
