#!/usr/bin/env bash
# Runs every Rust test against a moto emulator that this script starts on a free port and
# stops on exit, whatever happens. Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/../.."

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p .local
.local/venv/bin/python infra/scripts/emulator.py -H 127.0.0.1 -p "$port" > .local/moto-test.log 2>&1 &
moto_pid=$!
trap 'kill "$moto_pid" 2>/dev/null || true; wait "$moto_pid" 2>/dev/null || true' EXIT

for _ in $(seq 1 150); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
  if ! kill -0 "$moto_pid" 2>/dev/null; then echo "the emulator died; see .local/moto-test.log" >&2; exit 1; fi
  sleep 0.2
done

export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
cargo test --locked "${@:---workspace}"
