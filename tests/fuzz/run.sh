#!/bin/bash
# Builds the libFuzzer harness for feed_parse with clang and runs it for N
# seconds over a copy of the seed corpus.  Fails on any crash, leak,
# sanitizer report or timeout.
#   tests/fuzz/run.sh BUILD_DIR [SECONDS]
set -euo pipefail

build=${1:?usage: run.sh BUILD_DIR [SECONDS]}
secs=${2:-30}
src=$(cd "$(dirname "$0")/../.." && pwd)
out="$build/fuzz"
mkdir -p "$out"

clang=$(command -v clang-14 || command -v clang)
# shellcheck disable=SC2046
"$clang" -std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	-I"$src/include" \
	"$src/tests/fuzz/fuzz_feed.c" "$src/src/feed.c" "$src/src/calendar.c" \
	"$src/src/util.c" "$src/src/xmalloc.c" "$src/src/log.c" \
	"$src/src/promise.c" \
	$(pkg-config --cflags --libs libical) -o "$out/fuzz_feed"

corpus="$out/corpus"
rm -rf "$corpus" "$out/artifacts"
mkdir -p "$corpus" "$out/artifacts"
cp "$src"/tests/fuzz/corpus/*.ics "$corpus/"
cp "$src"/tests/data/ics/*.ics "$corpus/" 2>/dev/null || true

echo "fuzzing feed_parse for ${secs}s"
"$out/fuzz_feed" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
	-max_len=65536 -print_final_stats=1 \
	-artifact_prefix="$out/artifacts/" "$corpus"
if compgen -G "$out/artifacts/*" >/dev/null; then
	echo "fuzzing found problems: $out/artifacts" >&2
	exit 1
fi
