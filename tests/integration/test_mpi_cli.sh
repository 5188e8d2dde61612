#!/usr/bin/env bash
# tests/integration/test_mpi_cli.sh - tfrecord-train as 2 MPI ranks
# (mpirun --oversubscribe -np 2, as on a 2-core CI machine):
#   - the same model, bit for bit, as --replicas 2 in one process (which
#     test_train_parallel checks against gradients averaged by hand), and
#     not the model of one process on the whole batch;
#   - rank 0 alone prints and writes; --batch is the global batch;
#   - a run stopped after epoch 1 and resumed under MPI ends where the
#     uninterrupted one does;
#   - a rank killed with SIGKILL ends the job within a bounded time, and the
#     launcher names the rank.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
command -v mpirun >/dev/null || skip "no mpirun (openmpi-bin)"
ldd "$TFR_BIN/tfrecord-train" | grep -q libmpi || skip "tfrecord-train built without MPI (libopenmpi-dev)"
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || skip "dataset-fashion-mnist not installed"
if [ "$(id -u)" -eq 0 ]; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
export OMPI_MCA_rmaps_base_oversubscribe=1
# LeakSanitizer (the sanitizer build): OpenMPI keeps its own allocations past
# MPI_Finalize; the trainer's memory is checked by test_train_cli and
# test_train_parallel
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
MPI="mpirun --oversubscribe -np 2"
cd "$WORK"
"$TFR_BIN/fashion-mnist-tree" --limit 512 fm >/dev/null
"$TFR_BIN/tfrecord-write" -q --channels 1 --shards train=3,test=1 train=fm/train test=fm/test sh >/dev/null
T=$TFR_BIN/tfrecord-train
C="--train sh --val sh:test --width 8 --batch 64 --seed 3 --threads 1 --flip --pad-crop 2 --lr 0.05"

$MPI $T $C --epochs 2 --checkpoint-dir M --logdir ML >mpi.out 2>mpi.err || { cat mpi.out mpi.err; fail "mpirun run failed"; }
"$T" $C --epochs 2 --replicas 2 --checkpoint-dir R >rep.out 2>&1 || { cat rep.out; fail "--replicas 2 failed"; }
"$T" $C --epochs 2 --checkpoint-dir S >one.out 2>&1 || { cat one.out; fail "one process failed"; }
cmp -s M/epoch-0002.tfrc R/epoch-0002.tfrc || fail "2 MPI ranks and --replicas 2 trained different models"
cmp -s M/epoch-0002.tfrc S/epoch-0002.tfrc && fail "2 ranks gave the one-process model: no data parallelism"
# one rank through the collectives (TFR_MPI_ONE_RANK) is the one-process run, bit for bit
TFR_MPI_ONE_RANK=1 mpirun --oversubscribe -np 1 $T $C --epochs 2 --checkpoint-dir O >one1.out 2>&1 || { cat one1.out; fail "mpirun -np 1 failed"; }
cmp -s O/epoch-0002.tfrc S/epoch-0002.tfrc || fail "one MPI rank through the collectives trained another model than one process"

# GPU ranks through NCCL: a world of one on one GPU against the same run
# without MPI (cuDNN picks its algorithms by time in each process: equal to
# rounding, not bit for bit)
if "$T" $C --epochs 1 --device cuda --precision fp32 --logdir G0 >g0.out 2>&1; then
    TFR_MPI_ONE_RANK=1 mpirun --oversubscribe -np 1 $T $C --epochs 1 --device cuda --precision fp32 \
        --logdir G1 >g1.out 2>&1 || { cat g1.out; fail "one GPU rank through NCCL failed"; }
    python3 - G0/history.csv G1/history.csv <<'PY' || fail "one GPU rank through NCCL differs from the plain GPU run"
import csv, sys
a, b = (list(csv.DictReader(open(p))) for p in sys.argv[1:3])
assert len(a) == len(b) == 1, (len(a), len(b))
for k in ("loss", "val_loss"):
    x, y = float(a[0][k]), float(b[0][k])
    assert abs(x - y) <= 1e-3 * abs(x), (k, x, y)
print("one GPU rank through NCCL: loss", b[0]["loss"], "plain", a[0]["loss"])
PY
else
    echo "NCCL path: skipped: needs a GPU ($(grep -m1 error g0.out))"
fi
out=$(cat mpi.out)
contains "$out" "data parallel: 2 ranks"
contains "$out" "global batch 64 = 2 x 32"
[ "$(grep -c '^epoch 2/2' mpi.out)" = 1 ] || fail "the epoch line is not printed once:"$'\n'"$out"
[ "$(grep -c '^epoch' mpi.out)" = "$(grep -c '^epoch' rep.out)" ] || fail "epoch lines differ"
# the epoch's numbers are over both ranks' images: the same as --replicas 2
diff <(grep '^epoch' mpi.out | sed 's/ | [0-9]* images.*//') \
     <(grep '^epoch' rep.out | sed 's/ | [0-9]* images.*//') || fail "epoch results differ from --replicas 2"
[ "$(ls M | grep -c tfrc)" = 2 ] || fail "checkpoints: $(ls M)"
[ -f ML/history.csv ] && [ "$(grep -c . ML/history.csv)" = 3 ] || fail "history.csv not written once per epoch"

# resume under MPI, same world size
$MPI $T $C --epochs 1 --checkpoint-dir P >/dev/null 2>&1 || fail "epoch 1 run failed"
$MPI $T $C --epochs 2 --checkpoint-dir P --resume P >resume.out 2>&1 || { cat resume.out; fail "resume failed"; }
cmp -s P/epoch-0002.tfrc M/epoch-0002.tfrc || fail "the resumed MPI run ends elsewhere than the uninterrupted one"

# the global batch must divide among the ranks
if $MPI $T $C --epochs 1 --batch 63 >bad.out 2>&1; then fail "--batch 63 on 2 ranks ran"; fi
contains "$(cat bad.out)" "global batch"

# a rank killed mid-run: the job ends, non-zero, naming the rank
$MPI $T $C --epochs 500 >kill.out 2>&1 &
launcher=$!
for _ in $(seq 100); do
    ranks=$(pgrep -P "$launcher" -f tfrecord-train || true)
    [ "$(echo "$ranks" | grep -c .)" -ge 2 ] && grep -q '^epoch 1/' kill.out && break
    sleep 0.2
done
victim=$(echo "$ranks" | tail -1)
[ -n "$victim" ] || { kill "$launcher"; fail "no rank processes under mpirun"; }
t0=$(date +%s)
kill -9 "$victim"
rc=0
for _ in $(seq 120); do kill -0 "$launcher" 2>/dev/null || break; sleep 0.5; done
if kill -0 "$launcher" 2>/dev/null; then
    kill -9 "$launcher"
    fail "the job still runs 60 s after a rank was killed"
fi
wait "$launcher" || rc=$?
[ "$rc" -ne 0 ] || fail "mpirun exited 0 after a rank was killed"
out=$(cat kill.out)
contains "$out" "rank"
contains "$out" "signal 9"
echo "the job ended $(( $(date +%s) - t0 )) s after SIGKILL, exit $rc"

# a rank that hangs (SIGSTOP): the other's collective times out and the job ends
TFR_MPI_TIMEOUT=3 $MPI $T $C --epochs 500 >hang.out 2>&1 &
launcher=$!
for _ in $(seq 100); do
    ranks=$(pgrep -P "$launcher" -f tfrecord-train || true)
    [ "$(echo "$ranks" | grep -c .)" -ge 2 ] && grep -q '^epoch 1/' hang.out && break
    sleep 0.2
done
victim=$(echo "$ranks" | tail -1)
[ -n "$victim" ] || { kill "$launcher"; fail "no rank processes under mpirun"; }
kill -STOP "$victim"
for _ in $(seq 120); do kill -0 "$launcher" 2>/dev/null || break; sleep 0.5; done
if kill -0 "$launcher" 2>/dev/null; then
    kill -CONT "$victim"; kill -9 "$launcher"
    fail "the job still runs 60 s after a rank stopped"
fi
rc=0
wait "$launcher" || rc=$?
[ "$rc" -ne 0 ] || fail "mpirun exited 0 after a rank hung"
contains "$(cat hang.out)" "TFR_MPI_TIMEOUT"
pass
