#!/usr/bin/env bash
# Fuzzes the local shop from openapi.yaml with schemathesis: every operation, public and
# authenticated (a fresh shopper's token; the merchant's routes the demo owner's), a bounded
# number of examples each, checking for no 5xx and answers that keep to their schema. Starts its own emulator and shop on free ports
# and stops both on exit. FUZZ_EXAMPLES sets the examples per operation (default 20).
set -euo pipefail
cd "$(dirname "$0")/../.."

source infra/scripts/with-shop.sh
start_shop fuzz
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
staff_token=$(python3 infra/scripts/staff_token.py "$base" "$owner_file") ||
  shop_failed "the demo owner could not sign in"
fuzz --header "Authorization: Bearer $staff_token" --include-tag admin \
  --exclude-operation-id staffSignOut --exclude-operation-id staffChangePassword
fuzz --header "Authorization: Bearer $(login "fuzzer-leaving-$RANDOM")" --include-operation-id deleteMe --phases examples,coverage,fuzzing
