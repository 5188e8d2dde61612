/*
 * dataset/scan_impl.h - the scan's content check, for the writer, which
 * leaves it to the bytes it reads (tfr_scan_opts.content_later) except when
 * it reads nothing (an up-to-date run). Internal: src/dataset/.
 */
#ifndef TFR_SCAN_IMPL_H
#define TFR_SCAN_IMPL_H

#include <stddef.h>
#include <stdint.h>

/* Why the file is not an image (from its size and first bytes), or NULL
 * when it is a JPEG or PNG. buf[0..n) holds a message that needs room. */
const char *tfr_scan_not_image(const char *path, uint64_t size, char *buf, size_t n);

/* The reason given for a file whose content is neither JPEG nor PNG. */
#define TFR_SKIP_NOT_IMAGE "not a JPEG or PNG image (by content)"

#endif
