#!/usr/bin/env bash
# Runs every Rust test against a moto emulator that this script starts on a free port and
# stops on exit, whatever happens. Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/../.."

source infra/scripts/with-emulator.sh
start_emulator moto-test
cargo test --locked "${@:---workspace}"
