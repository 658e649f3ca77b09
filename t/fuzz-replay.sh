#!/bin/sh
# SPDX-License-Identifier: ISC
# fuzz-replay.sh - replays the fuzzing seed corpus and every crash file
# found so far through each harness (built without libFuzzer, with the
# build's own compiler and sanitizers): a regression test per harness.
src=${POSTERN_SRCDIR:-$(dirname "$0")/..}
build=${POSTERN_BUILDDIR:-$(dirname "$0")/..}
# In a sanitizer build, leaks count too (the fuzzer found one in the config
# loader): LeakSanitizer runs when each replay exits.
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1"
export ASAN_OPTIONS
set -- command address data auth config esmtp proxy header milter forward sni rcpt-answers policy-answer
echo "1..$#"
n=0
for h in "$@"; do
	n=$((n + 1))
	dirs="$src/t/fuzz/corpus/$h"
	[ -d "$src/t/fuzz/crashes/$h" ] && dirs="$dirs $src/t/fuzz/crashes/$h"
	if out=$("$build/t/fuzz/replay-$h" $dirs 2>&1); then
		echo "ok $n - $h: $(echo "$out" | tail -n 1) inputs replayed"
	else
		echo "not ok $n - $h: a corpus input fails"
		echo "$out" | sed 's/^/# /' | tail -n 30
	fi
done
