#!/usr/bin/env bash
# tests/integration/test_cli_args.sh - every tool's option values go through
# tools/cli.c: a non-number, trailing junk, an empty value, overflow, a value
# out of range and a bad enum name each exit 2 with one line
# "TOOL: --flag: ..." on stderr and nothing on stdout; boundary values are
# accepted (a real run, or exit 1 on a missing input past the parser).
# One convention for every tool: -h and --help print usage on stdout and
# exit 0, --version prints "TOOL VERSION", an unknown option, a missing
# value or a missing operand is one "TOOL: ..." line plus a pointer at
# --help and exit 2 (with "did you mean" for a near miss).
set -u
. "$(dirname "$0")/lib.sh"

W="$TFR_BIN/tfrecord-write"
R="$TFR_BIN/tfrecord-read"
I="$TFR_BIN/tfrecord-inspect"
T="$TFR_BIN/tfrecord-train"
RT="$TFR_BIN/tfrecord-retrain"
L="$TFR_BIN/tfrecord-label"
F="$TFR_BIN/fashion-mnist-tree"
NONE="$WORK/none"

# bad FLAG MESSAGE CMD...: CMD exits 2, stderr holds "TOOL: FLAG: MESSAGE", stdout is empty
bad() {
    local flag=$1 msg=$2; shift 2
    expect_fail "$(basename "$1"): $flag: $msg" "$@"
    local out rc=0
    out=$("$@" 2>/dev/null) || rc=$?
    [ "$rc" = 2 ] || fail "'$*' exited $rc, expected 2 (usage)"
    [ -z "$out" ] || fail "'$*' printed on stdout: $out"
}
# ok CMD...: the values are accepted: CMD gets past parsing to fail on its missing input (exit 1)
ok() {
    local out rc=0
    out=$("$@" 2>&1) || rc=$?
    [ "$rc" = 1 ] || fail "'$*' exited $rc, expected 1 (a missing input): $out"
}
# runs CMD...: CMD succeeds
runs() {
    local out
    out=$("$@" 2>&1) || fail "'$*' failed: $out"
}

"$TFR_TEST_BIN/tfr-mktree" photos "$WORK/photos" || fail "tfr-mktree"

# ---- tfrecord-write ------------------------------------------------------
bad --quality "'x' is not a number" "$W" --quality x "$WORK/photos" "$WORK/o"
bad --quality "'95x' is not a number" "$W" --quality 95x "$WORK/photos" "$WORK/o"
bad --quality "'' is not a number" "$W" --quality '' "$WORK/photos" "$WORK/o"
bad --quality "' 95' is not a number" "$W" --quality ' 95' "$WORK/photos" "$WORK/o"
bad --quality "0 is out of range (1..100)" "$W" --quality 0 "$WORK/photos" "$WORK/o"
bad --quality "101 is out of range (1..100)" "$W" --quality 101 "$WORK/photos" "$WORK/o"
bad --quality "99999999999999999999 is out of range (1..100)" "$W" --quality 99999999999999999999 "$WORK/photos" "$WORK/o"
bad --level "-2 is out of range (-1..9)" "$W" --level -2 "$WORK/photos" "$WORK/o"
bad --level "10 is out of range (-1..9)" "$W" --level 10 "$WORK/photos" "$WORK/o"
bad --label-offset "-1 is out of range (0..1000000)" "$W" --label-offset -1 "$WORK/photos" "$WORK/o"
bad --label-offset "'1.5' is not a number" "$W" --label-offset 1.5 "$WORK/photos" "$WORK/o"
bad --threads "1025 is out of range (0..1024)" "$W" --threads 1025 "$WORK/photos" "$WORK/o"
bad --threads "'two' is not a number" "$W" --threads two "$WORK/photos" "$WORK/o"
bad --seed "-1 is out of range (>= 0)" "$W" --seed -1 "$WORK/photos" "$WORK/o"
bad --seed "18446744073709551616 is out of range (>= 0)" "$W" --seed 18446744073709551616 "$WORK/photos" "$WORK/o"
bad --seed "'0x10' is not a number" "$W" --seed 0x10 "$WORK/photos" "$WORK/o"
bad --size "'64x' is not WxH" "$W" --size 64x "$WORK/photos" "$WORK/o"
bad --size "'64x64x3' is not WxH" "$W" --size 64x64x3 "$WORK/photos" "$WORK/o"
bad --size "'64xa' is not WxH" "$W" --size 64xa "$WORK/photos" "$WORK/o"
bad --size "H=0 is out of range (1..65535)" "$W" --size 64x0 "$WORK/photos" "$WORK/o"
bad --size "W=0 is out of range (1..65535)" "$W" --size 0x5 "$WORK/photos" "$WORK/o"
bad --size "0 is out of range (1..65535)" "$W" --size 0 "$WORK/photos" "$WORK/o"
bad --size "'6a' is not a number" "$W" --size 6a "$WORK/photos" "$WORK/o"
bad --channels "2 is not one of 1, 3" "$W" --channels 2 "$WORK/photos" "$WORK/o"
bad --channels "'rgb' is not a number" "$W" --channels rgb "$WORK/photos" "$WORK/o"
bad --layout "'foo' is not one of jpeg, raw, tensor" "$W" --layout foo "$WORK/photos" "$WORK/o"
bad --resize "'fit' is not one of stretch, crop, pad" "$W" --resize fit "$WORK/photos" "$WORK/o"
bad --flip "'yes' is not one of none, random, both" "$W" --flip yes "$WORK/photos" "$WORK/o"
bad --normalize "'' is not one of none, rescale, samplewise" "$W" --normalize '' "$WORK/photos" "$WORK/o"
bad --compression "'' is not one of gzip, zlib, none" "$W" --compression '' "$WORK/photos" "$WORK/o"
bad --compression "'auto' is not one of gzip, zlib, none" "$W" --compression auto "$WORK/photos" "$WORK/o"
bad --shard-size "'200XB' is not a size" "$W" --shard-size 200XB "$WORK/photos" "$WORK/o"
bad --shard-size "'MB' is not a size" "$W" --shard-size MB "$WORK/photos" "$WORK/o"
bad --shard-size "'1.2.3MB' is not a size" "$W" --shard-size 1.2.3MB "$WORK/photos" "$WORK/o"
bad --shard-size "'-5MB' is not a size" "$W" --shard-size -5MB "$WORK/photos" "$WORK/o"
bad --shard-size "0 is out of range (1..1TiB)" "$W" --shard-size 0 "$WORK/photos" "$WORK/o"
bad --shard-size "2TiB is out of range (1..1TiB)" "$W" --shard-size 2TiB "$WORK/photos" "$WORK/o"
bad --chunk-size "2GiB is out of range (0..1GiB)" "$W" --chunk-size 2GiB "$WORK/photos" "$WORK/o"
bad --chunk-size "'' is not a size" "$W" --chunk-size '' "$WORK/photos" "$WORK/o"
bad --shards "0 is out of range (1..99999)" "$W" --shards 0 "$WORK/photos" "$WORK/o"
bad --shards "'3x' is not a number" "$W" --shards 3x "$WORK/photos" "$WORK/o"
bad --shards "'x' is not a number" "$W" --shards train=x "$WORK/photos" "$WORK/o"
bad --shards "100000 is out of range (1..99999)" "$W" --shards train=2,test=100000 "$WORK/photos" "$WORK/o"
bad --shards "'train=2,,test=3' is not N or SPLIT=N,..." "$W" --shards train=2,,test=3 "$WORK/photos" "$WORK/o"
bad --num-workers "0 is out of range (1..65536)" "$W" --num-workers 0 "$WORK/photos" "$WORK/o"
bad --worker-index "2 is out of range (0..1, --num-workers 2)" "$W" --num-workers 2 --worker-index 2 "$WORK/photos" "$WORK/o"
ok "$W" -q --quality 1 --level -1 --threads 0 --label-offset 0 --seed 18446744073709551615 "$NONE" "$WORK/o"
ok "$W" -q --quality 100 --level 9 --threads 1024 --shards 99999 --chunk-size 0 "$NONE" "$WORK/o"
ok "$W" -q --level 0 --size 65535x1 --shard-size 1TiB --chunk-size 1GiB --label-offset 1000000 "$NONE" "$WORK/o"
ok "$W" -q --num-workers 65536 --worker-index 65535 --shards train=99999,test=1 "$NONE" "$WORK/o"
[ ! -e "$WORK/o" ] || fail "a refused command line wrote output"
# real runs at the boundaries; --level -1 is the default, --layout is case-insensitive
runs "$W" -q --quality 1 --size 1x1 --shards 1 --threads 0 --chunk-size 1.5KiB "$WORK/photos" "$WORK/w1"
runs "$W" -q --layout RAW --size 7 --channels 1 --shards 2 --level 0 --shard-size 1 --chunk-size 2k \
    --seed 18446744073709551615 "$WORK/photos" "$WORK/w7"
runs "$W" -q --shards 1 --level -1 --compression none "$WORK/photos" "$WORK/wa"
runs "$W" -q --shards 1 --compression NONE "$WORK/photos" "$WORK/wb"
runs "$W" -q --shards 1 --compression none "$WORK/photos" "$WORK/wc"
cmp -s "$WORK/wa/train-00000-of-00001.tfrecord" "$WORK/wc/train-00000-of-00001.tfrecord" \
    || fail "--level -1 is not the default"
cmp -s "$WORK/wb/train-00000-of-00001.tfrecord" "$WORK/wc/train-00000-of-00001.tfrecord" \
    || fail "--compression NONE differs from none"
json=$("$I" -q --json "$WORK/w7")
[ "$(jq_get "$json" "files[0].records")" != 0 ] || fail "--size 7 shards are empty: $json"
m1=$(cat "$WORK/w1/manifest.json") m7=$(cat "$WORK/w7/manifest.json")
contains "$m1" '"chunk_bytes": 1536,'
contains "$m7" '"chunk_bytes": 2000,'
contains "$m7" '"seed": 18446744073709551615,'
contains "$m7" '"width": 7,'
contains "$m7" '"height": 7,'

# ---- tfrecord-read -------------------------------------------------------
S="$WORK/w1"
bad --batch "0 is out of range (1..65536)" "$R" --batch 0 "$S"
bad --batch "'8k' is not a number" "$R" --batch 8k "$S"
bad --epochs "-1 is out of range (>= 0)" "$R" --epochs -1 "$S"
bad --epochs "99999999999 is out of range (>= 0)" "$R" --epochs 99999999999 "$S"
bad --threads "-1 is out of range (0..1024)" "$R" --threads -1 "$S"
bad --shuffle-buffer "1073741825 is out of range (0..1073741824)" "$R" --shuffle-buffer 1073741825 "$S"
bad --interleave "0 is out of range (1..1024)" "$R" --interleave 0 "$S"
bad --seed "'abc' is not a number" "$R" --seed abc "$S"
bad --seed "'' is not a number" "$R" --seed '' "$S"
bad --size "'32' is not WxH" "$R" --size 32 "$S"
bad --size "'32x32junk' is not WxH" "$R" --size 32x32junk "$S"
bad --size "H=0 is out of range (1..65535)" "$R" --size 32x0 "$S"
bad --channels "2 is not one of 1, 3" "$R" --channels 2 "$S"
bad --format "'f32' is not one of u8, nhwc, nchw" "$R" --format f32 "$S"
bad --pad-crop "1025 is out of range (0..1024)" "$R" --pad-crop 1025 "$S"
bad --center-crop "0 is out of range (0 < x <= 1)" "$R" --center-crop 0 "$S"
bad --center-crop "1.5 is out of range (0 < x <= 1)" "$R" --center-crop 1.5 "$S"
bad --center-crop "'0.8x' is not a number" "$R" --center-crop 0.8x "$S"
bad --center-crop "'nan' is not a number" "$R" --center-crop nan "$S"
bad --center-crop "'inf' is not a number" "$R" --center-crop inf "$S"
bad --center-crop "'0x1p-1' is not a number" "$R" --center-crop 0x1p-1 "$S"
bad --center-crop "1e999 is out of range (0 < x <= 1)" "$R" --center-crop 1e999 "$S"
bad --random-resized-crop "-0.5 is out of range (0 < x <= 1)" "$R" --random-resized-crop -0.5 "$S"
bad --random-resized-crop "'' is not a number" "$R" --random-resized-crop '' "$S"
bad --world "0 is out of range (1..65536)" "$R" --world 0 "$S"
bad --rank "-1 is out of range (0..65535)" "$R" --rank -1 "$S"
bad --rank "1 is out of range (0..0, --world 1)" "$R" --rank 1 "$S"
bad --max-batches "0 is out of range (>= 1)" "$R" --max-batches 0 "$S"
ok "$R" -q --batch 65536 --threads 1024 --interleave 1024 --shuffle-buffer 1073741824 "$NONE"
ok "$R" -q --world 65536 --rank 65535 --pad-crop 1024 --max-batches 2147483647 "$NONE"
runs "$R" -q --batch 1 --epochs 0 --max-batches 3 --threads 0 --shuffle-buffer 0 --interleave 1 \
    --seed 18446744073709551615 --size 1x1 --channels 1 --format NCHW --center-crop 1 "$S"
runs "$R" -q --batch 2 --epochs 1 --pad-crop 0 --random-resized-crop 1 --size 65x3 "$S"
runs "$R" -q --batch 2 --rank 0 --world 1 --center-crop 1e-3 --size 4x4 "$S"
out=$("$R" --json --batch 1 --max-batches 3 --size 5x6 --channels 1 "$S") || fail "read --json"
[ "$(jq_get "$out" batches)" = 3 ] || fail "--max-batches 3: $out"
[ "$(jq_get "$out" width)x$(jq_get "$out" height)x$(jq_get "$out" channels)" = 5x6x1 ] \
    || fail "--size 5x6 --channels 1: $out"

# ---- tfrecord-inspect ----------------------------------------------------
bad --max-errors "'x' is not a number" "$I" --max-errors x "$S"
bad --max-errors "-1 is out of range (>= 0)" "$I" --max-errors -1 "$S"
bad --max-errors "'10,' is not a number" "$I" --max-errors 10, "$S"
bad --show "'' is not a number" "$I" --show '' "$S"
bad --show "2147483648 is out of range (>= 0)" "$I" --show 2147483648 "$S"
bad --compression "'lz4' is not one of auto, none, zlib, gzip" "$I" --compression lz4 "$S"
bad --compression "'' is not one of auto, none, zlib, gzip" "$I" --compression '' "$S"
runs "$I" -q --max-errors 0 --show 0 --compression auto "$S"
runs "$I" -q --max-errors 2147483647 --compression GZIP "$S"
out=$("$I" -q --show 1 "$S") || fail "inspect --show 1"
contains "$out" "image/encoded"

# ---- tfrecord-train ------------------------------------------------------
TR=(--train "$NONE.tfrecord")
bad --width "'x' is not a number" "$T" "${TR[@]}" --width x
bad --width "3 is out of range (4..4096)" "$T" "${TR[@]}" --width 3
bad --width "6 is not a multiple of 4" "$T" "${TR[@]}" --width 6
bad --classes "1 is out of range (2..100000)" "$T" "${TR[@]}" --classes 1
bad --classes "'10 ' is not a number" "$T" "${TR[@]}" --classes '10 '
bad --levels "'4,x' is not a comma list of numbers" "$T" "${TR[@]}" --levels 4,x
bad --levels "'4,,3' is not a comma list of numbers" "$T" "${TR[@]}" --levels 4,,3
bad --levels "'' is not a comma list of numbers" "$T" "${TR[@]}" --levels ''
bad --levels "'4,6,' is not a comma list of numbers" "$T" "${TR[@]}" --levels 4,6,
bad --levels "0 is out of range (1..64)" "$T" "${TR[@]}" --levels 4,0,3
bad --levels "'1,1,1,1,1,1,1,1,1' has more than 8 numbers" "$T" "${TR[@]}" --levels 1,1,1,1,1,1,1,1,1
bad --input "'28x28' is not HxWxC" "$T" "${TR[@]}" --input 28x28
bad --input "'28x28x1x1' is not HxWxC" "$T" "${TR[@]}" --input 28x28x1x1
bad --input "H=3 is out of range (4..8192)" "$T" "${TR[@]}" --input 3x28x1
bad --input "W=9000 is out of range (1..8192)" "$T" "${TR[@]}" --input 28x9000x1
bad --input "C=2 is not one of 1, 3" "$T" "${TR[@]}" --input 28x28x2
bad --epochs "0 is out of range (>= 1)" "$T" "${TR[@]}" --epochs 0
bad --batch "0 is out of range (1..65536)" "$T" "${TR[@]}" --batch 0
bad --lr "0 is out of range (> 0)" "$T" "${TR[@]}" --lr 0
bad --lr "-0.1 is out of range (> 0)" "$T" "${TR[@]}" --lr -0.1
bad --lr "'0.1.' is not a number" "$T" "${TR[@]}" --lr 0.1.
bad --lr "'fast' is not a number" "$T" "${TR[@]}" --lr fast
bad --lr "1e40 is out of range (> 0)" "$T" "${TR[@]}" --lr 1e40
bad --lr-decay "0 is out of range (0 < x <= 1)" "$T" "${TR[@]}" --lr-decay 0
bad --lr-decay "2 is out of range (0 < x <= 1)" "$T" "${TR[@]}" --lr-decay 2
bad --lr-every "-1 is out of range (>= 0)" "$T" "${TR[@]}" --lr-every -1
bad --warmup "'1.5' is not a number" "$T" "${TR[@]}" --warmup 1.5
bad --momentum "1 is out of range (0 <= x < 1)" "$T" "${TR[@]}" --momentum 1
bad --momentum "-0.1 is out of range (0 <= x < 1)" "$T" "${TR[@]}" --momentum -0.1
bad --l2 "-1e-4 is out of range (>= 0)" "$T" "${TR[@]}" --l2 -1e-4
bad --weight-decay "'infinity' is not a number" "$T" "${TR[@]}" --weight-decay infinity
bad --pad-crop "-2 is out of range (0..1024)" "$T" "${TR[@]}" --pad-crop -2
bad --mean "1.5 is out of range (0..1)" "$T" "${TR[@]}" --mean 1.5
bad --std "0 is out of range (> 0)" "$T" "${TR[@]}" --std 0
bad --seed "'7s' is not a number" "$T" "${TR[@]}" --seed 7s
bad --threads "'all' is not a number" "$T" "${TR[@]}" --threads all
bad --shuffle-buffer "-1 is out of range (0..1073741824)" "$T" "${TR[@]}" --shuffle-buffer -1
bad --workspace-mb "0 is out of range (1..1048576)" "$T" "${TR[@]}" --workspace-mb 0
bad --workspace-mb "'256MB' is not a number" "$T" "${TR[@]}" --workspace-mb 256MB
bad --device "unknown device 'tpu'" "$T" "${TR[@]}" --device tpu
bad --precision "unknown precision 'fp16'" "$T" "${TR[@]}" --precision fp16
bad --preset "unknown preset 'big'" "$T" "${TR[@]}" --preset big
ok "$T" -q "${TR[@]}" --width 4 --levels 1 --input 4x4x1 --classes 2 --epochs 1 --batch 1 --lr 1e-9 \
    --lr-decay 1 --lr-every 0 --warmup 0 --momentum 0 --l2 0 --weight-decay 0 --pad-crop 0 --mean 0 \
    --std 1e-3 --seed 0 --threads 0 --shuffle-buffer 0 --workspace-mb 1
# the upper bounds through --evaluate, which loads the (missing) checkpoint before building anything
ok "$T" --evaluate "$NONE.tfrc" --val "$NONE" --width 4096 --levels 64,1,1,1,1,1,1,1 --input 8192x8192x3 --classes 100000 \
    --epochs 2147483647 --batch 65536 --lr 10 --momentum 0.999 --mean 1 --pad-crop 1024 \
    --seed 18446744073709551615 --threads 1024 --shuffle-buffer 1073741824 --workspace-mb 1048576

# ---- tfrecord-retrain ----------------------------------------------------
RA=(--backbone "$NONE.tfrc" --images "$WORK/photos" --cache "$WORK/rc" --out "$WORK/ro")
bad --steps "0 is out of range (>= 1)" "$RT" "${RA[@]}" --steps 0
bad --steps "'4k' is not a number" "$RT" "${RA[@]}" --steps 4k
bad --lr "0 is out of range (> 0)" "$RT" "${RA[@]}" --lr 0
bad --batch "'' is not a number" "$RT" "${RA[@]}" --batch ''
bad --batch "65537 is out of range (1..65536)" "$RT" "${RA[@]}" --batch 65537
bad --eval-every "0 is out of range (>= 1)" "$RT" "${RA[@]}" --eval-every 0
bad --split "'validation=10' is not validation=F,test=F" "$RT" "${RA[@]}" --split validation=10
bad --split "'test=10,validation=10' is not validation=F,test=F" "$RT" "${RA[@]}" --split test=10,validation=10
bad --split "'validatiom=10,test=10' is not validation=F,test=F" "$RT" "${RA[@]}" --split validatiom=10,test=10
bad --split "'validation=10,test=10x' is not validation=F,test=F" "$RT" "${RA[@]}" --split validation=10,test=10x
bad --split "'validation=10,test=10,' is not validation=F,test=F" "$RT" "${RA[@]}" --split validation=10,test=10,
bad --split "validation=-1 is out of range (0 <= x < 100)" "$RT" "${RA[@]}" --split validation=-1,test=10
bad --split "'validation=50,test=50': validation + test must be below 100" "$RT" "${RA[@]}" --split validation=50,test=50
bad --random-crop "101 is out of range (0..100)" "$RT" "${RA[@]}" --random-crop 101
bad --random-scale "-5 is out of range (0..100)" "$RT" "${RA[@]}" --random-scale -5
bad --random-brightness "'10%' is not a number" "$RT" "${RA[@]}" --random-brightness 10%
bad --mean "-0.5 is out of range (0..1)" "$RT" "${RA[@]}" --mean -0.5
bad --std "'nan' is not a number" "$RT" "${RA[@]}" --std nan
bad --seed "-3 is out of range (>= 0)" "$RT" "${RA[@]}" --seed -3
bad --device "unknown device 'cuda:x'" "$RT" "${RA[@]}" --device cuda:x
bad --precision "unknown precision ''" "$RT" "${RA[@]}" --precision ''
ok "$RT" -q "${RA[@]}" --steps 1 --lr 1e-6 --batch 1 --eval-every 1 --split validation=0,test=0 \
    --random-crop 0 --random-scale 0 --random-brightness 0 --mean 0 --std 1e-3 --seed 0
ok "$RT" -q "${RA[@]}" --steps 2147483647 --batch 65536 --split validation=49.5,test=50 \
    --random-crop 100 --random-scale 100 --random-brightness 100 --mean 1 --seed 18446744073709551615
[ ! -e "$WORK/ro" ] || fail "retrain wrote output without a backbone"

# ---- tfrecord-label ------------------------------------------------------
LA=(--model "$NONE" "$WORK/photos/daisy/daisy_00.jpg")
bad --top "0 is out of range (1..1000)" "$L" --top 0 "${LA[@]}"
bad --top "'five' is not a number" "$L" -k five "${LA[@]}"
bad --top "1001 is out of range (1..1000)" "$L" --top 1001 "${LA[@]}"
bad --mean "'.' is not a number" "$L" --mean . "${LA[@]}"
bad --std "-1 is out of range (> 0)" "$L" --std -1 "${LA[@]}"
ok "$L" --top 1 --mean 0 --std 1e-3 "${LA[@]}"
ok "$L" --top 1000 --mean 1 --std 100 "${LA[@]}"

# ---- fashion-mnist-tree --------------------------------------------------
bad --limit "'10k' is not a number" "$F" --limit 10k "$WORK/fm"
bad --limit "-1 is out of range (>= 0)" "$F" --limit -1 "$WORK/fm"
bad --quality "0 is out of range (1..100)" "$F" --quality 0 "$WORK/fm"
bad --quality "'' is not a number" "$F" --quality '' "$WORK/fm"
ok "$F" --source "$NONE" --limit 0 --quality 1 "$WORK/fm"
ok "$F" --source "$NONE" --limit 2147483647 --quality 100 "$WORK/fm"

# the convention, for all seven tools
for t in tfrecord-write tfrecord-inspect tfrecord-read tfrecord-train tfrecord-retrain \
         tfrecord-label fashion-mnist-tree; do
    X="$TFR_BIN/$t"
    for h in -h --help; do
        out=$("$X" $h 2>/dev/null) || fail "$t $h exited $?"
        contains "$out" "usage: $t"
    done
    out=$("$X" --version) || fail "$t --version"
    [[ "$out" =~ ^$t\ [0-9]+\.[0-9]+\.[0-9]+$ ]] || fail "$t --version printed '$out'"
    out=$("$X" --no-such-option x 2>&1 >/dev/null); rc=$?
    [ "$rc" = 2 ] || fail "$t: unknown option exited $rc"
    [ "$(printf '%s\n' "$out" | wc -l)" = 2 ] || fail "$t: unknown option printed more than 2 lines: $out"
    contains "$out" "$t: unknown option '--no-such-option'"
    contains "$out" "Try '$t --help' for more information."
    out=$("$X" 2>&1 >/dev/null); rc=$?
    [ "$rc" = 2 ] || fail "$t with no arguments exited $rc"
    [ "$(printf '%s\n' "$out" | wc -l)" = 2 ] || fail "$t with no arguments: not 2 lines: $out"
    contains "$out" "Try '$t --help'"
    # every long option of the tool's option table is in its --help
    help=$("$X" --help)
    for o in $(grep -oE '\{"[a-z][a-z0-9-]*", (no|required)_argument' "$TFR_SRC/tools/$t.c" |
               sed 's/{"\([^"]*\)".*/\1/'); do
        contains "$help" "--$o"
    done
done
expect_fail "tfrecord-train: unknown option '--bach'; did you mean --batch?" "$T" --bach 3 --train x
expect_fail "tfrecord-write: unknown option '--qualty'; did you mean --quality?" "$W" --qualty 9 a b
expect_fail "tfrecord-train: option '--train' needs a value" "$T" --train
expect_fail "tfrecord-train: --resume r continues a run: give its --train SHARDS too" "$T" --resume r
expect_fail "tfrecord-train: --evaluate needs --val SHARDS" "$T" --evaluate x
expect_fail "tfrecord-retrain: needs --images DIR" "$RT" --backbone x
expect_fail "tfrecord-label: needs an IMAGE to label" "$L" --model x
expect_fail "tfrecord-write: needs OUT_DIR after" "$W" "$WORK/photos"
pass

