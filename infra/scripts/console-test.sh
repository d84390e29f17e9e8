#!/usr/bin/env bash
# The merchant console in a real browser: Debian's Chromium (headless) driven by playwright-core
# through the built bundle the local shop serves at /console/, against a shop of its own on free
# ports (emulator, sandboxes, demo shop and demo owner). Screenshots of each page land in
# target/console-screenshots/. CHROMIUM names another browser binary.
set -euo pipefail
cd "$(dirname "$0")/../.."

source infra/scripts/with-shop.sh
start_shop console
rm -rf target/console-screenshots
owner="$PWD/$owner_file"
(cd functions/admin/console &&
  SHOP_URL="$base" SANDBOX_URL="$sandbox" CONSOLE_OWNER_FILE="$owner" node --test --test-concurrency=1 --test-reporter=spec ${CONSOLE_TESTS:-e2e/}) ||
  shop_failed "a console test failed"
