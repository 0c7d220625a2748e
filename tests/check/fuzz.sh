#!/bin/bash
# Runs every libFuzzer target in tests/fuzz (scripts/fuzz all) for
# PROMISED_FUZZ_SECONDS each (default 20) over its seed corpus; any crash,
# leak, sanitizer report, broken invariant, timeout or out-of-memory fails
# the check.  So does a missing clang or fuzzer runtime: this never skips.
# The clang build goes to <build dir>/fuzz and is reused by the next run.
set -euo pipefail
src=${PROMISED_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${PROMISED_BUILD_DIR:-/tmp/promised-fuzz}
secs=${PROMISED_FUZZ_SECONDS:-20}
export PROMISED_FUZZ_BUILD="$build/fuzz"
start=$(date +%s)
"$src/scripts/fuzz" all "$secs"
echo "fuzzing took $(($(date +%s) - start))s"
