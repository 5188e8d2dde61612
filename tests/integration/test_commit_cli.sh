#!/usr/bin/env bash
# tests/integration/test_commit_cli.sh - the commit of a shard set is
# recognisable at every instant: tfrecord-write is killed at each of its
# renames in turn (strace fault injection), and after every kill no reader
# accepts the folder (tfrecord-read on the folder, a glob and manifest.json;
# tfrecord-inspect --verify); the next run then completes, byte for byte the
# set an uninterrupted run writes. A full filesystem (tmpfs of each size)
# either lets the run finish soundly or leaves no set a reader accepts.
set -u
. "$(dirname "$0")/lib.sh"
command -v strace >/dev/null || skip "strace not installed"
strace -f -qq -o /dev/null -e trace=none true 2>/dev/null || skip "strace cannot trace here"
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || skip "dataset-fashion-mnist not installed"
W="$TFR_BIN/tfrecord-write"; R="$TFR_BIN/tfrecord-read"; I="$TFR_BIN/tfrecord-inspect"
"$TFR_BIN/fashion-mnist-tree" --limit 120 "$WORK/fm" >/dev/null || fail "tree"
args=(-q --channels 1 --shards 3 "$WORK/fm/train")
"$W" "${args[@]}" "$WORK/ref" >/dev/null || fail "reference run"
n=$(strace -f -qq -o "$WORK/trace" -e trace=rename,renameat,renameat2 "$W" "${args[@]}" "$WORK/count" >/dev/null; grep -c rename "$WORK/trace")
[ "$n" -ge 6 ] || fail "expected at least 6 renames, saw $n"
for k in $(seq 1 "$n"); do
    out="$WORK/k$k"
    strace -f -qq -o /dev/null -e trace=rename,renameat,renameat2 \
        -e inject=rename,renameat,renameat2:signal=SIGKILL:when=$k "$W" "${args[@]}" "$out" \
        >/dev/null 2>&1 && fail "kill at rename $k: the writer finished"
    # nothing that looks finished: every reader refuses the folder
    "$I" -q --verify "$out" >/dev/null 2>&1 && fail "kill at rename $k: inspect --verify accepted it"
    "$R" -q "$out" >/dev/null 2>&1 && fail "kill at rename $k: tfrecord-read accepted the folder"
    if compgen -G "$out/train-*" >/dev/null; then
        "$R" -q "$out/train-*" >/dev/null 2>&1 && fail "kill at rename $k: tfrecord-read accepted the glob"
    fi
    if [ -f "$out/manifest.json" ]; then
        "$R" -q "$out/manifest.json" >/dev/null 2>&1 && fail "kill at rename $k: manifest.json accepted"
        [ "$(jq_get "$(cat "$out/manifest.json")" complete)" = false ] || fail "kill at rename $k: manifest says complete"
    fi
    # the next run completes without --force and equals an uninterrupted run
    "$W" "${args[@]}" "$out" >/dev/null || fail "rerun after kill at rename $k"
    "$I" -q --verify "$out" >/dev/null || fail "inspect after the rerun ($k)"
    for f in "$WORK"/ref/*.tfrecord.gz; do
        cmp -s "$f" "$out/$(basename "$f")" || fail "rerun after kill at rename $k: $(basename "$f") differs"
    done
    [ -z "$(find "$out" -name '*.incomplete*' -o -name '*.tmp.*')" ] || fail "temporaries left after the rerun ($k)"
done
# a full filesystem (tmpfs of every size from nothing to enough): the run
# either finishes with a sound set or fails leaving none that a reader takes
mnt="$WORK/mnt"
mkdir -p "$mnt"
if mount -t tmpfs -o size=4k tmpfs "$mnt" 2>/dev/null; then
    umount "$mnt"
    trap 'umount "$mnt" 2>/dev/null; chmod -R u+rwx "$WORK" 2>/dev/null; rm -rf "$WORK"' EXIT
    need=$(du -sk "$WORK/ref" | cut -f1)
    full=0 failed=0
    for kb in $(seq 4 4 $((need + 24))); do
        mount -t tmpfs -o size=${kb}k tmpfs "$mnt" || fail "mount tmpfs ${kb}k"
        if "$W" "${args[@]}" "$mnt/out" >/dev/null 2>&1; then
            "$I" -q --verify "$mnt/out" >/dev/null || fail "tmpfs ${kb}k: finished, but inspect --verify fails"
            full=$((full + 1))
        else
            failed=$((failed + 1))
            if [ -d "$mnt/out" ]; then
                "$I" -q --verify "$mnt/out" >/dev/null 2>&1 && fail "tmpfs ${kb}k: a failed run left a set inspect accepts"
                "$R" -q "$mnt/out" >/dev/null 2>&1 && fail "tmpfs ${kb}k: a failed run left a set tfrecord-read accepts"
            fi
        fi
        umount "$mnt" || fail "umount"
    done
    [ "$failed" -gt 3 ] && [ "$full" -ge 1 ] || fail "tmpfs sizes: $failed failed, $full finished"
else
    echo "note: no tmpfs mount here; the full-disk part is skipped"
fi

# worker manifests without a merged manifest.json are an unfinished set
"$W" -q --channels 1 --shards 4 --num-workers 2 --worker-index 0 "$WORK/fm/train" "$WORK/wk" >/dev/null || fail "worker 0"
expect_fail "unfinished" "$R" -q "$WORK/wk"
out=$("$I" -q --verify "$WORK/wk" 2>&1) && fail "inspect accepted a half-written worker set"
contains "$out" "unfinished"
pass
