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
cargo build --locked --release -p login -p browse -p checkout -p pay-notify

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p .local target
.local/venv/bin/python infra/scripts/emulator.py -H 127.0.0.1 -p "$port" > .local/moto-bench.log 2>&1 &
moto_pid=$!
trap 'kill "$moto_pid" 2>/dev/null || true; wait "$moto_pid" 2>/dev/null || true' EXIT

for _ in $(seq 1 150); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
  if ! kill -0 "$moto_pid" 2>/dev/null; then echo "the emulator died; see .local/moto-bench.log" >&2; exit 1; fi
  sleep 0.2
done

export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
export BENCH_COMMAND="infra/scripts/bench.sh${*:+ $*}"
# Written aside first so a failed run leaves the previous report in place.
cargo run --locked --release -p bench -- --bin-dir "$target_dir/release" "$@" > target/bench-report.md.new
mv target/bench-report.md.new target/bench-report.md
cat target/bench-report.md
