#!/usr/bin/env bash
# tests/integration/test_readme.sh - every command of README.md's sh blocks
# runs, as written, in a folder that holds what the examples name
# (flower_photos/, ILSVRC/, tiny-imagenet/, tiny/ with val_annotations.txt,
# shards/ of Fashion-MNIST with train and test splits, val/, file.tfrecord,
# new_photos/, photo1.jpg, photo2.png), in README order: the training
# example's checkpoints feed the evaluation and retraining examples, whose
# model feeds tfrecord-label. Each tfrecord-write example starts from an
# empty out/. A command is left out only for a reason the list below names
# (a synopsis, an elided "...", a GPU, TensorBoard, the two top commands
# that CI itself is); the indented Slurm and Kubernetes examples are run by
# test_write_cli.sh. A new README command that is neither runnable nor
# listed fails this test.
set -u
. "$(dirname "$0")/lib.sh"
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || skip "dataset-fashion-mnist not installed"
command -v jq >/dev/null || skip "jq not installed (tools/setup installs it)"
cd "$WORK" || fail "cd"
"$TFR_TEST_BIN/tfr-mktree" photos flower_photos >/dev/null || fail "photos"
"$TFR_TEST_BIN/tfr-mktree" awkward awkward >/dev/null || fail "awkward"
for d in ILSVRC/train ILSVRC/val tiny-imagenet/train tiny/train new_photos; do
    mkdir -p "$d" && cp -r flower_photos/. "$d/"
done
# Tiny ImageNet's val/: flat images and a table of file -> class
mkdir -p tiny/val/images
: >tiny/val/val_annotations.txt
for c in flower_photos/*/; do
    n=$(basename "$c")
    f=$(ls "$c" | head -1)
    cp "$c/$f" "tiny/val/images/val_$n.jpg"
    printf 'val_%s.jpg\t%s\t0\t0\t8\t8\n' "$n" "$n" >>tiny/val/val_annotations.txt
done
"$TFR_BIN/fashion-mnist-tree" --limit 200 fm >/dev/null || fail "fashion-mnist tree"
"$TFR_BIN/tfrecord-write" -q train=fm/train test=fm/test shards >/dev/null || fail "shards"
"$TFR_BIN/tfrecord-write" -q validation=fm/test val >/dev/null || fail "val"
cp shards/test-00000-of-00001.tfrecord.gz file.tfrecord
cp "$(ls flower_photos/*/*.jpg | head -1)" photo1.jpg
png=$(find awkward -name '*.png' | head -1)
[ -n "$png" ] || fail "no PNG in the awkward tree"
cp "$png" photo2.png

export PATH="$TFR_BIN:$PATH"
python3 - "$TFR_SRC/README.md" >"$WORK/commands.txt" <<'PY' || fail "README parse"
import re, sys
text = open(sys.argv[1]).read()
# only the blocks at column 0: the indented Slurm/Kubernetes ones are test_write_cli's
blocks = re.findall(r"^```sh\n(.*?)^```", text, flags=re.S | re.M)
for block in blocks:
    lines, cur = [], ""
    for line in block.splitlines():
        if line.rstrip().endswith("\\"):
            cur += line.rstrip()[:-1] + " "
            continue
        cur += line
        if cur.strip() and not cur.lstrip().startswith("#"):
            lines.append(cur.strip())
        cur = ""
    for l in lines:
        print(re.sub(r"\s+#\s.*$", "", l))  # a trailing comment
PY

ran=0
while IFS= read -r cmd; do
    why=""
    case "$cmd" in
    ./tools/demo*|./tools/test*) why="the two top commands (CI and the demo run them)" ;;
    tools/install-python*) why="installs into the system (test_python runs the package from the build)" ;;
    "python3 -m venv"*) why="a venv in the home folder (test_python_pip installs with pip into a scratch one)" ;;
    *"--recipe fmnist --train"*) why="half an hour of training (test_train_cli runs the recipe for an epoch)" ;;
    *"[options]"*) why="a synopsis" ;;
    *" ... "*|*" ..."|*"..."*) why="elided options" ;;
    *"--device cuda"*|*"--device auto"*) why="needs a GPU" ;;
    tensorboard*) why="TensorBoard is not part of this project" ;;
    trtexec*) why="TensorRT is not part of this project (and needs a GPU)" ;;
    esac
    if [ -n "$why" ]; then
        echo "skip: $cmd   ($why)"
        continue
    fi
    case "$cmd" in tfrecord-write*) rm -rf out ;; esac
    echo "run:  $cmd"
    if ! out=$(bash -c "set -o pipefail; $cmd" 2>&1); then
        fail "README command failed: $cmd"$'\n'"$out"
    fi
    ran=$((ran + 1))
done <"$WORK/commands.txt"
# what the examples made
[ -f runs/a/ck/epoch-0010.tfrc ] || fail "the training example made no epoch-0010.tfrc"
[ -f model/model.tfrc ] || fail "the retrain example made no model/model.tfrc"
[ "$ran" -ge 15 ] || fail "only $ran README commands ran"
echo "$ran README commands ran"
pass
