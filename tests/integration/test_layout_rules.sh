#!/usr/bin/env bash
# tests/integration/test_layout_rules.sh - the layout rules of DESIGN.md,
# checked on the source tree and the built library:
#  1. each folder of src/ includes only its own headers and those of the
#     folders below it (util < record < example < image < dataset <
#     stream, inspect, nn < train, retrain < python, the bindings, which
#     include the public headers only); no *_impl.h from another folder;
#  2. no abort() or exit() in the library; every allocation through
#     util/alloc.h (tfr_malloc, ...), so that its fault injector reaches it
#     (the Python bindings allocate with the interpreter's PyMem_*);
#  3. only the drivers' report printers and util's log/progress write to
#     stdout or stderr;
#  4. libtfrecord.so exports tfr_* names only;
#  5. in a CUDA build, libtfrecord.so and the tools find cuDNN and cuBLAS
#     through their RUNPATH.
set -u
. "$(dirname "$0")/lib.sh"
cd "$TFR_SRC" || fail "no source tree"

level() { # the floor of a folder of src/
    case "$1" in
        util) echo 0 ;; record) echo 1 ;; example) echo 2 ;; image) echo 3 ;;
        dataset) echo 4 ;; stream|inspect|nn) echo 5 ;; train|retrain) echo 6 ;;
        python) echo 7 ;;
        *) echo 99 ;;
    esac
}
owner() { # the folder that owns a public header
    case "$1" in
        error.h|util.h) echo util ;; record.h|events.h) echo record ;;
        example.h|layout.h) echo example ;; image.h|augment.h) echo image ;;
        dataset.h|manifest.h) echo dataset ;; stream.h) echo stream ;;
        inspect.h) echo inspect ;; model.h|checkpoint.h|nn.h|onnx.h) echo nn ;;
        train.h) echo train ;; retrain.h) echo retrain ;; *) echo unknown ;;
    esac
}

bad=0
report() { echo "layout: $*" >&2; bad=$((bad + 1)); }

while IFS= read -r f; do
    dir=${f#src/}; dir=${dir%%/*}
    [ "$dir" = include ] && continue
    mine=$(level "$dir")
    [ "$mine" = 99 ] && { report "$f: folder src/$dir has no floor in this check"; continue; }
    while IFS= read -r inc; do
        case "$inc" in
            tfrecord/*)
                h=${inc#tfrecord/}
                o=$(owner "$h")
                [ "$o" = unknown ] && { report "$f includes $inc, which no folder owns"; continue; }
                # nn.h is the umbrella of nn and the drivers: only for the drivers
                [ "$h" = nn.h ] && [ "$mine" -lt 6 ] && report "$f includes the umbrella nn.h"
                lo=$(level "$o")
                if [ "$o" != "$dir" ] && [ "$lo" -ge "$mine" ]; then
                    report "$f (src/$dir) includes $inc of src/$o, not a lower floor"
                fi ;;
            */*_impl.h|*_impl.h)
                idir=${inc%%/*}
                [ "$idir" = "$inc" ] && idir=$dir
                [ "$idir" != "$dir" ] && report "$f includes $inc, another folder's private header" ;;
            */*)
                idir=${inc%%/*}
                il=$(level "$idir")
                if [ "$idir" != "$dir" ] && [ "$il" != 99 ] && [ "$il" -ge "$mine" ]; then
                    report "$f (src/$dir) includes $inc of src/$idir, not a lower floor"
                fi ;;
        esac
    done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f")
done < <(find src -name '*.[ch]' -o -name '*.cu' | LC_ALL=C sort)

# 1b. the Python bindings use the public headers only (and their own native.h)
hits=$(grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' src/python/*.[ch] |
       grep -vE '"(tfrecord/[^"]*|native\.h)"' || true)
[ -n "$hits" ] && report "src/python includes more than the public headers:"$'\n'"$hits"

# 2. no abort()/exit() in the library
hits=$(grep -rnE '\babort[[:space:]]*\(|\bexit[[:space:]]*\(' src --include='*.[ch]' --include='*.cu' || true)
[ -n "$hits" ] && report "abort()/exit() in src/:"$'\n'"$hits"

# 2b. allocation: through util/alloc.h (its fault injector covers every path)
hits=$(grep -rnE '(^|[^_[:alnum:].>])(malloc|calloc|realloc|strdup|strndup)[[:space:]]*\(' src --include='*.c' |
       grep -v '^src/util/alloc\.c:' || true)
[ -n "$hits" ] && report "allocations that bypass util/alloc.h:"$'\n'"$hits"

# 3. printing: only the report printers (*_print.c) and util/log.c, util/progress.c
hits=$(grep -rlE '\b(printf|puts|putchar)[[:space:]]*\(|fprintf[[:space:]]*\([[:space:]]*std(out|err)|fputs\([^;]*std(out|err)' \
        src --include='*.c' --include='*.cu' | grep -vE '_print\.c$|^src/util/(log|progress)\.c$' || true)
[ -n "$hits" ] && report "files below the tools that print:"$'\n'"$hits"

# 4. exports of the shared library
so=$(find "$TFR_BUILD" -maxdepth 1 -name 'libtfrecord.so*' -type f | head -1)
if [ -n "$so" ]; then
    extra=$(nm -D --defined-only "$so" | awk '{print $3}' |
            grep -vE '^(tfr_|_init$|_fini$|_edata$|_end$|__bss_start$)' || true)
    [ -n "$extra" ] && report "$so exports $(echo "$extra" | wc -l) names that are not tfr_*, e.g. $(echo "$extra" | head -5 | tr '\n' ' ')"
else
    report "no libtfrecord.so in $TFR_BUILD"
fi

# 5. a CUDA build's binaries find cuDNN and cuBLAS through their RUNPATH,
#    not only through the loader's configuration
for f in "$so" "$TFR_BIN/tfrecord-train"; do
    [ -n "$f" ] && [ -f "$f" ] || continue
    dyn=$(readelf -d "$f" 2>/dev/null) || continue
    runpath=$(echo "$dyn" | sed -n 's/.*(RUNPATH).*\[\(.*\)\]/\1/p')
    for lib in $(echo "$dyn" | sed -n 's/.*(NEEDED).*\[\(lib\(cudnn\|cublas\)[^]]*\)\]/\1/p'); do
        found=0
        IFS=: read -ra dirs <<<"$runpath"
        for d in "${dirs[@]}"; do [ -e "$d/$lib" ] && found=1; done
        [ "$found" = 1 ] || report "$f needs $lib, which no RUNPATH directory holds (RUNPATH: '$runpath')"
    done
done

[ "$bad" = 0 ] || fail "$bad layout rule(s) broken"
pass
