#!/usr/bin/env bash
# tests/integration/test_python_pip.sh - the pip route into Python: the
# package directory installs with `pip install --no-build-isolation` into a
# venv (Debian's NumPy from the system site-packages, nothing from the
# network), and the installed module reads records and examples the same as
# the C tools, without any CUDA library.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
[ -f "$TFR_BUILD/python/interpreter" ] || skip "no Python module in this build (python3-dev, python3-numpy)"
py=$(cat "$TFR_BUILD/python/interpreter")
"$py" -c "import ensurepip, setuptools" 2>/dev/null || skip "python3-venv or python3-setuptools not installed"
"$py" -m venv --system-site-packages "$WORK/venv"
cp -r "$TFR_SRC/src/python" "$WORK/pkg"
rm -rf "$WORK/pkg/build" "$WORK/pkg"/*.egg-info
TFR_SOURCE_DIR=$TFR_SRC "$WORK/venv/bin/pip" install -q --no-index --no-build-isolation "$WORK/pkg" \
    >"$WORK/pip.log" 2>&1 || { cat "$WORK/pip.log"; fail "pip install failed"; }
golden=$TFR_GOLDEN/tfrecord_lite-images.tfrecord
want=$("$TFR_BIN/tfrecord-inspect" --json "$golden")
cd "$WORK"
out=$("$WORK/venv/bin/python" - "$golden" "$want" <<'PY'
import json, os, sys
import tfrecord_tools as tt
path, want = sys.argv[1], json.loads(sys.argv[2])
assert "/venv/" in tt.__file__, tt.__file__
n = sum(1 for _ in tt.records(path))
ex = tt.parse_example(next(iter(tt.records(path))))
maps = open(f"/proc/{os.getpid()}/maps").read()
assert "libcudnn" not in maps and "libcublas" not in maps, "CUDA libraries loaded"
print(json.dumps({"records": n, "keys": sorted(ex)}))
PY
)
[ "$(jq_get "$out" records)" = "$(jq_get "$want" records)" ] || fail "records: $out vs inspect $want"
contains "$out" '"keys": ['
pass
