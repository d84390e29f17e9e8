#!/usr/bin/env bash
# Benchmarks each function's release binary (cold start, latency, memory, size, AWS calls per
# request) and orders per second on one contended SKU, against a moto emulator this script
# starts on a free port and stops on exit, whatever happens. Prints the Markdown report and
# keeps it in target/bench-report.md. Extra arguments go to shop-bench (--cold-starts N,
# --warm M, --clients K, --contended N).
set -euo pipefail
cd "$(dirname "$0")/../.."

target_dir="${CARGO_TARGET_DIR:-target}"
# Built on their own, not together with the bench: one cargo build unifies features across
# the packages it builds, and the binaries must be the ones Lambda would run.
cargo build --locked --release -p login -p browse -p checkout -p pay-notify -p logistics-hook -p share-reward

mkdir -p target
source infra/scripts/with-emulator.sh
start_emulator moto-bench
export BENCH_COMMAND="infra/scripts/bench.sh${*:+ $*}"
# Written aside first so a failed run leaves the previous report in place.
cargo run --locked --release -p bench -- --bin-dir "$target_dir/release" "$@" > target/bench-report.md.new
mv target/bench-report.md.new target/bench-report.md
cat target/bench-report.md
