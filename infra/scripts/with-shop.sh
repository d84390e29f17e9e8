# Sourced by fuzz.sh and console-test.sh: starts the emulator and the local shop (`devstack
# dev`, the demo shop seeded) on free ports, waits until it answers, and stops both when the
# sourcing script exits. Usage: start_shop NAME; then $base is the shop, $sandbox the provider
# sandboxes, $owner_file its demo owner, and shop_failed MESSAGE fails with the shop's log.
source infra/scripts/with-emulator.sh

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start_shop() {
  local name=$1 api_port sandbox_port status
  start_emulator "moto-$name"
  api_port=$(free_port)
  sandbox_port=$(free_port)
  shop_log=".local/$name-shop.log"
  owner_file=".local/$name-owner.json"
  rm -f "$owner_file" "$owner_file".changed "$owner_file".steps
  cargo build --locked -q -p devstack --bin devstack
  DEMO_OWNER_FILE="$owner_file" PORT=$api_port SANDBOX_PORT=$sandbox_port \
    ./target/debug/devstack dev > "$shop_log" 2>&1 &
  shop_pid=$!
  trap 'kill "$shop_pid" 2>/dev/null || true; wait "$shop_pid" 2>/dev/null || true; kill "$emulator_pid" 2>/dev/null || true; wait "$emulator_pid" 2>/dev/null || true' EXIT
  base="http://127.0.0.1:$api_port"
  sandbox="http://127.0.0.1:$sandbox_port"
  # The gateway answers 503 `starting` until the demo shop is seeded: wait for it to open, each
  # try and the whole wait bounded, so a shop that accepts but never answers fails at once.
  status=none
  for _ in $(seq 1 300); do
    status=$(curl -s --max-time 5 -o /dev/null -w '%{http_code}' "$base/v1/categories" || true)
    if [ "$status" = 200 ]; then break; fi
    if ! kill -0 "$shop_pid" 2>/dev/null; then shop_failed "the shop died"; fi
    sleep 0.2
  done
  if [ "$status" != 200 ]; then shop_failed "the shop did not open (last answer: $status)"; fi
}

shop_failed() {
  echo "$(basename "$0"): $1; the shop's log:" >&2
  tail -n 40 "$shop_log" >&2
  exit 1
}
