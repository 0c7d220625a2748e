#!/bin/bash
# Fuzzes the iCalendar-to-promises path for 30 s (tests/fuzz/run.sh);
# any crash, leak or sanitizer finding fails the test.
set -euo pipefail
src=${PROMISED_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${PROMISED_BUILD_DIR:-/tmp/promised-fuzz}
exec bash "$src/tests/fuzz/run.sh" "$build" "${PROMISED_FUZZ_SECONDS:-30}"
