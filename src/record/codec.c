/*
 * record/codec.c - the table of built-in deflate engines.
 *
 * A new engine: its codec_<name>.c, one line below, and its library found in
 * CMakeLists.txt. The first entry is the default (zlib, TensorFlow's own);
 * the table goes from the slowest to the fastest, and "auto" is the last.
 */
#include "record/codec.h"
#include "tfrecord/record.h"

#include <string.h>

static const tfr_codec *const engines[] = {
    &tfr_codec_zlib,
#ifdef TFR_HAVE_ISAL
    &tfr_codec_isal,
#endif
};

/* the table's names, for messages and --help (tfrecord/record.h) */
const char *tfr_writer_engines(void)
{
#ifdef TFR_HAVE_ISAL
    return "zlib isal";
#else
    return "zlib";
#endif
}

const tfr_codec *tfr_codec_default(void)
{
    return engines[0];
}

#define NENGINES (sizeof engines / sizeof engines[0])

const tfr_codec *tfr_codec_fastest(void)
{
    return engines[NENGINES - 1];
}

const tfr_codec *tfr_codec_find(const char *name)
{
    if (name && !strcmp(name, "auto"))
        return tfr_codec_fastest();
    for (size_t i = 0; name && i < NENGINES; i++)
        if (!strcmp(engines[i]->name, name))
            return engines[i];
    return NULL;
}

const tfr_codec *tfr_codec_at(size_t i)
{
    return i < NENGINES ? engines[i] : NULL;
}
