#!/usr/bin/env bash
# tests/bench/bench_threads.sh - the one --threads rule on a shared machine.
#
# Each tool runs at --threads 1 and 2, on an idle machine and beside a
# competing busy process on each of the same cores (the tool and the
# competitors pinned to CPUs 0,1), first as the tools start (OpenMP threads
# spin 20000 rounds, then sleep: tools/cli.h) and then with libgomp's default wait
# (GOMP_SPINCOUNT=300000, the baseline, measured in the same run).
# Prints min/median wall seconds and median CPU seconds of R runs, and the
# ratio wall(2 threads) / wall(1 thread): under load, above 1 means more
# threads made the tool slower.
#   bench_threads.sh [RUNS] [BUILD_DIR]       (default 3, ./build)
set -euo pipefail
runs=${1:-3}
build=${2:-build}
bin="$build/bin"
cpus=0,1
work=$(mktemp -d "${TMPDIR:-/tmp}/tfr-threads-XXXXXX")
busy=()
stop_busy() { for p in "${busy[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done; busy=(); }
trap 'stop_busy; rm -rf "$work"' EXIT

# data: 300 images per class of Fashion-MNIST's training set, as JPEG files
"$bin/fashion-mnist-tree" "$work/fm" >/dev/null
for d in "$work"/fm/train/*/; do
    c=$(basename "$d")
    mkdir -p "$work/small/$c"
    find "$d" -type f | sort | sed -n 1,300p | xargs cp -t "$work/small/$c"
done
"$bin/tfrecord-write" -q "$work/small" "$work/shards" >/dev/null
"$bin/tfrecord-train" -q --train "$work/shards" --epochs 1 --checkpoint-dir "$work/ckpt" >/dev/null
imgs=$(find "$work/small" -type f | sort | sed -n 1,200p)

tool_cmd() { # TOOL THREADS -> the command line
    case $1 in
    write) echo "$bin/tfrecord-write -q --force --threads $2 --size 32x32 $work/fm/test $work/out" ;;
    read) echo "$bin/tfrecord-read -q --threads $2 --batch 128 --channels 1 --epochs 20 $work/shards" ;;
    train) echo "$bin/tfrecord-train -q --threads $2 --train $work/shards --epochs 1" ;;
    label) echo "$bin/tfrecord-label --threads $2 --model $work/ckpt/epoch-0001.tfrc $imgs" ;;
    esac
}

# one measurement: prints "wall cpu" medians and the min wall
measure() { # WAIT TOOL THREADS
    local wall=() cpu=() t
    for ((r = 0; r < runs; r++)); do
        # bash's time: wall, user and system seconds of the command and its children
        # shellcheck disable=SC2046
        t=$( { TIMEFORMAT='%R %U %S'; time env $1 taskset -c "$cpus" $(tool_cmd "$2" "$3") \
               >/dev/null 2>&1; } 2>&1 | tail -1)
        read -r e u s <<<"$t"
        wall+=("$e")
        cpu+=("$(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.2f", u + s }')")
    done
    local mid=$(((runs + 1) / 2))
    echo "$(printf '%s\n' "${wall[@]}" | sort -g | sed -n "${mid}p")" \
         "$(printf '%s\n' "${cpu[@]}" | sort -g | sed -n "${mid}p")" \
         "$(printf '%s\n' "${wall[@]}" | sort -g | sed -n 1p)"
}

printf '%-6s %-7s %-13s %-16s %-16s %s\n' tool load wait "1 thread" "2 threads" "wall 2/1"
printf '%-6s %-7s %-13s %-16s %-16s %s\n' "" "" "" "(med/min s, cpu)" "(med/min s, cpu)" ""
for load in idle busy; do
    if [ "$load" = busy ]; then
        for c in ${cpus//,/ }; do
            taskset -c "$c" sh -c 'while :; do :; done' &
            busy+=($!)
        done
    fi
    for tool in write read train label; do
        for wait in tools libgomp; do
            w="TFR_BENCH=1"
            [ "$wait" = libgomp ] && w="GOMP_SPINCOUNT=300000"
            read -r m1 c1 n1 <<<"$(measure "$w" "$tool" 1)"
            read -r m2 c2 n2 <<<"$(measure "$w" "$tool" 2)"
            printf '%-6s %-7s %-13s %-16s %-16s %.2f\n' "$tool" "$load" "$wait" \
                "$m1/$n1, $c1" "$m2/$n2, $c2" "$(awk -v a="$m2" -v b="$m1" 'BEGIN { print a / b }')"
        done
    done
    stop_busy
done
