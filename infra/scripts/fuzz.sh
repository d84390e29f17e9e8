#!/usr/bin/env bash
# Fuzzes the local shop from openapi.yaml with schemathesis: every operation, public and
# authenticated (a fresh shopper's token; the merchant's routes the demo owner's), a bounded
# number of examples each, checking for no 5xx and answers that keep to their schema. Starts its own emulator and shop on free ports
# and stops both on exit. FUZZ_EXAMPLES sets the examples per operation (default 20).
set -euo pipefail
cd "$(dirname "$0")/../.."

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

source infra/scripts/with-emulator.sh
start_emulator moto-fuzz
api_port=$(free_port)
sandbox_port=$(free_port)
cargo build --locked -q -p devstack --bin devstack
PORT=$api_port SANDBOX_PORT=$sandbox_port ./target/debug/devstack dev > .local/fuzz-shop.log 2>&1 &
shop_pid=$!
trap 'kill "$shop_pid" 2>/dev/null || true; wait "$shop_pid" 2>/dev/null || true; kill "$emulator_pid" 2>/dev/null || true; wait "$emulator_pid" 2>/dev/null || true' EXIT
base="http://127.0.0.1:$api_port"
shop_failed() {
  echo "fuzz: $1; the shop's log:" >&2
  tail -n 40 .local/fuzz-shop.log >&2
  exit 1
}
# The gateway answers 503 `starting` until the demo shop is seeded: wait for it to open, each
# try and the whole wait bounded, so a shop that accepts but never answers fails the run at once.
status=none
for _ in $(seq 1 300); do
  status=$(curl -s --max-time 5 -o /dev/null -w '%{http_code}' "$base/v1/categories" || true)
  if [ "$status" = 200 ]; then break; fi
  if ! kill -0 "$shop_pid" 2>/dev/null; then shop_failed "the shop died"; fi
  sleep 0.2
done
if [ "$status" != 200 ]; then shop_failed "the shop did not open (last answer: $status)"; fi
login() {
  curl -sf --max-time 10 -X POST "$base/v1/auth/login" -H 'content-type: application/json' \
    -d "{\"code\":\"$1.1\"}" | python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])'
}
token=$(login "fuzzer-$RANDOM")

# Deleting the account would leave every later operation only 401s to answer: it is fuzzed last,
# on an account of its own.
fuzz() {
  .local/fuzz-venv/bin/st --config-file infra/schemathesis.toml run openapi.yaml \
    --url "$base" \
    --checks not_a_server_error,status_code_conformance,response_schema_conformance,content_type_conformance \
    --max-examples "${FUZZ_EXAMPLES:-20}" \
    --workers 1 \
    --seed "${FUZZ_SEED:-20261125}" \
    --request-timeout "${FUZZ_TIMEOUT:-30}" \
    --generation-database none \
    --suppress-health-check all \
    --no-color \
    "$@"
}
fuzz --header "Authorization: Bearer $token" --exclude-tag admin --exclude-operation-id deleteMe
# The merchant's routes with the demo owner's token (signed in with its code, so stepped up
# for the first five minutes); signing out or changing the password would end the pass early.
staff_token=$(python3 infra/scripts/staff_token.py "$base" .local/demo-owner.json) ||
  shop_failed "the demo owner could not sign in"
fuzz --header "Authorization: Bearer $staff_token" --include-tag admin \
  --exclude-operation-id staffSignOut --exclude-operation-id staffChangePassword
fuzz --header "Authorization: Bearer $(login "fuzzer-leaving-$RANDOM")" --include-operation-id deleteMe --phases examples,coverage,fuzzing
