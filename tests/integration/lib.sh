# tests/integration/lib.sh - helpers for the shell integration tests.
# Env from CMake: TFR_BIN (built tools), TFR_GOLDEN, TFR_SRC, TFR_BUILD.
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tfr-it-XXXXXX")
trap 'chmod -R u+rwx "$WORK" 2>/dev/null; rm -rf "$WORK"' EXIT
NAME=$(basename "$0" .sh)

fail() { echo "FAIL $NAME: $*" >&2; exit 1; }
skip() { echo "SKIP: $*"; exit 77; }
pass() { echo "PASS $NAME"; exit 0; }
contains() {
    case "$1" in *"$2"*) ;; *) fail "output lacks '$2':"$'\n'"$1" ;; esac
}
# expect_fail MESSAGE CMD... : CMD exits non-zero and prints MESSAGE
expect_fail() {
    local msg=$1; shift
    local out
    if out=$("$@" 2>&1); then fail "'$*' succeeded, expected failure"; fi
    contains "$out" "$msg"
}
# jq_get JSON PATH : a value from JSON by a python expression path (a.b[0].c)
jq_get() {
    python3 -c '
import json, re, sys
v = json.loads(sys.argv[1])
for part in re.findall(r"[^.\[\]]+", sys.argv[2]):
    v = v[int(part)] if part.isdigit() else v[part]
print(v if not isinstance(v, bool) else str(v).lower())' "$1" "$2"
}
