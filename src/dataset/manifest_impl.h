/*
 * dataset/manifest_impl.h - the JSON of a shard entry and of a skipped
 * input, shared by manifest.json (manifest.c) and the write report
 * (write_print.c), so both spell them the same way. Internal: src/dataset/.
 */
#ifndef TFR_MANIFEST_IMPL_H
#define TFR_MANIFEST_IMPL_H

#include <stdint.h>
#include <stdio.h>

#include "tfrecord/manifest.h"

/*
 * {"file": F, "split": S, "records": R, "bytes": B, "uncompressed_bytes": U,
 * "crc32c": "C" -- without the closing brace, so a caller may add fields.
 * pretty: ", " and ": " between items (manifest.json), else "," and ":".
 */
void tfr_manifest_json_shard(FILE *f, const char *file, const char *split, long long records,
                             long long bytes, long long uncompressed, uint32_t crc, int pretty);

/* {"path": P, "reason": R} (pretty as above) */
void tfr_manifest_json_skip(FILE *f, const tfr_skip *s, int pretty);

#endif
