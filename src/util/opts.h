/*
 * util/opts.h - the size check of public options structs (internal).
 *
 * Every public options struct starts with `size_t struct_size`, which its
 * _init sets to sizeof the struct (see tfrecord/error.h). The call that
 * consumes the struct checks it first, so a caller built against an older
 * or newer header gets TFR_ERR_ARG instead of fields read from the wrong
 * places:
 *
 *     TFR_CHECK_OPTS(tfr_writer_opts, opts, err);   (returns on a mismatch)
 *
 * A NULL struct passes (the callers that accept NULL mean the defaults).
 */
#ifndef TFR_OPTS_H
#define TFR_OPTS_H

#include <stddef.h>

#include "tfrecord/error.h"

/* Fills err with the mismatch and returns TFR_ERR_ARG. */
static inline tfr_status tfr_opts_size_fail(size_t got, size_t want, const char *name,
                                            tfr_error *err)
{
    return tfr_fail(err, TFR_ERR_ARG, NULL,
                    "%s: options struct of %zu bytes, this library expects %zu: "
                    "rebuild against its headers",
                    name, got, want);
}

/* Returns TFR_ERR_ARG from the calling function when o (a const type *)
 * is not NULL and its struct_size is not sizeof(type). */
#define TFR_CHECK_OPTS(type, o, err)                                              \
    do {                                                                          \
        const type *tfr_chk_ = (o);                                               \
        if (tfr_chk_ && tfr_chk_->struct_size != sizeof(type))                    \
            return tfr_opts_size_fail(tfr_chk_->struct_size, sizeof(type), #type, \
                                      (err));                                     \
    } while (0)

#endif
