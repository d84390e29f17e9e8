# Sourced by test.sh and bench.sh: starts the one-request-at-a-time moto emulator
# (emulator.py) on a free port, stops it when the sourcing script exits however it exits, and
# points the AWS SDK at it. Usage: start_emulator LOG_NAME
start_emulator() {
  local log=".local/$1.log" port
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  mkdir -p .local
  .local/venv/bin/python infra/scripts/emulator.py -H 127.0.0.1 -p "$port" > "$log" 2>&1 &
  emulator_pid=$!
  trap 'kill "$emulator_pid" 2>/dev/null || true; wait "$emulator_pid" 2>/dev/null || true' EXIT
  for _ in $(seq 1 150); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
    if ! kill -0 "$emulator_pid" 2>/dev/null; then echo "the emulator died; see $log" >&2; exit 1; fi
    sleep 0.2
  done
  export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
  export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
}
