#!/usr/bin/env bash
# tests/integration/test_reference_outputs.sh - every tool's outputs on fixed
# trees (Fashion-MNIST, photographs, an awkward tree; all three layouts;
# one and two threads; every compression) are byte-identical to the
# reference in tests/reference/expected.txt: shards, manifests, labels,
# stream batches, the first 50 training losses, checkpoints, the bottleneck
# cache and the retrained head. A change that alters any output on purpose
# regenerates the reference:
#   tests/reference/capture.sh build/bin build/test-bin $(mktemp -d) > tests/reference/expected.txt
set -u
. "$(dirname "$0")/lib.sh"
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || skip "dataset-fashion-mnist not installed"
# the training part runs OpenBLAS's AVX2 kernels (capture.sh); a CPU
# without AVX2 and FMA compares the rest only
want="$TFR_SRC/tests/reference/expected.txt"
quick=
if ! grep -qw avx2 /proc/cpuinfo || ! grep -qw fma /proc/cpuinfo; then
    quick=quick
    sed '/^# tfrecord-train$/,$d' "$want" >"$WORK/want.txt"
    want="$WORK/want.txt"
    echo "note: no AVX2/FMA: outputs that depend on the BLAS kernels are not compared"
fi
"$TFR_SRC/tests/reference/capture.sh" "$TFR_BIN" "$TFR_TEST_BIN" "$WORK/ref" $quick >"$WORK/got.txt" \
    || fail "capture.sh failed"
if ! diff -u "$want" "$WORK/got.txt" >"$WORK/diff.txt"; then
    cat "$WORK/diff.txt" >&2
    fail "outputs differ from tests/reference/expected.txt"
fi
pass
