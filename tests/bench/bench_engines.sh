#!/usr/bin/env bash
# tests/bench/bench_engines.sh - tfrecord-write's deflate engines against
# gzip -6 and pigz -6 -p2 (when installed) compressing the same uncompressed
# record stream, measured in the same run: pass-through writes of
# Fashion-MNIST's 60,000 training JPEGs at 2 threads. Prints per engine and
# level the median/min wall seconds, median CPU seconds, MB/s of record bytes
# (uncompressed), the compressed/uncompressed ratio, and the speed against
# gzip -6 and pigz.
#   bench_engines.sh [RUNS] [BUILD_DIR]       (default 5, ./build)
set -euo pipefail
runs=${1:-5}
build=${2:-build}
bin="$build/bin"
work=$(mktemp -d "${TMPDIR:-/tmp}/tfr-engines-XXXXXX")
trap 'rm -rf "$work"' EXIT
"$bin/fashion-mnist-tree" "$work/fm" >/dev/null
"$bin/tfrecord-write" -q --compression none train="$work/fm/train" "$work/plain" >/dev/null
plain=$(ls "$work"/plain/train-*)
mb=$(stat -c %s "$plain" | awk '{ print $1 / 1e6 }')

measure() { # NAME OUTPUT_FILE CMD...: median wall, min wall, median cpu; sets SIZE
    local name=$1 outf=$2 wall=() cpu=() t
    shift 2
    for ((r = 0; r < runs; r++)); do
        rm -rf "$work/out"
        t=$( { TIMEFORMAT='%R %U %S'; time "$@" >/dev/null 2>&1; } 2>&1 | tail -1)
        read -r e u s <<<"$t"
        wall+=("$e")
        cpu+=("$(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.2f", u + s }')")
    done
    local mid=$(((runs + 1) / 2))
    MED=$(printf '%s\n' "${wall[@]}" | sort -g | sed -n "${mid}p")
    MIN=$(printf '%s\n' "${wall[@]}" | sort -g | sed -n 1p)
    CPU=$(printf '%s\n' "${cpu[@]}" | sort -g | sed -n "${mid}p")
    SIZE=$(stat -c %s $outf)
    printf '%-28s %6s %6s %6s %8.1f %7.4f' "$name" "$MED" "$MIN" "$CPU" \
        "$(awk -v m="$mb" -v t="$MED" 'BEGIN { print m / t }')" \
        "$(awk -v s="$SIZE" -v m="$mb" 'BEGIN { print s / 1e6 / m }')"
}

printf '%s MB of records (uncompressed), %d runs, 2 threads\n' "$mb" "$runs"
printf '%-28s %6s %6s %6s %8s %7s  %s\n' what "med s" "min s" "cpu s" "MB/s" ratio "vs gzip -6, vs pigz"
measure "gzip -6" "$work/g.gz" sh -c "gzip -6 -c '$plain' >'$work/g.gz'"
echo
gz=$MED
pz=""
if command -v pigz >/dev/null; then
    measure "pigz -6 -p2" "$work/p.gz" sh -c "pigz -6 -p 2 -c '$plain' >'$work/p.gz'"
    echo
    pz=$MED
fi
for spec in "zlib -1" "isal -1" "isal 1" "auto -1"; do
    read -r e l <<<"$spec"
    if ! "$bin/tfrecord-write" -q --engine "$e" train="$work/fm/train" "$work/probe-$e" >/dev/null 2>&1; then
        echo "engine $e: not built in"
        continue
    fi
    measure "tfrecord-write $e --level $l" "$work/out/train-*" "$bin/tfrecord-write" -q --threads 2 \
        --engine "$e" --level "$l" train="$work/fm/train" "$work/out"
    printf '  %.2fx' "$(awk -v a="$gz" -v b="$MED" 'BEGIN { print a / b }')"
    [ -n "$pz" ] && printf ', %.2fx' "$(awk -v a="$pz" -v b="$MED" 'BEGIN { print a / b }')"
    echo
done
