/*
 * record/codec.c - the table of built-in deflate engines.
 *
 * A new engine: its codec_<name>.c, one line below, and its library found in
 * CMakeLists.txt. The first entry is the default.
 */
#include "record/codec.h"

#include <string.h>

static const tfr_codec *const engines[] = {
    &tfr_codec_zlib,
};

const tfr_codec *tfr_codec_default(void)
{
    return engines[0];
}

#define NENGINES (sizeof engines / sizeof engines[0])

const tfr_codec *tfr_codec_find(const char *name)
{
    for (size_t i = 0; name && i < NENGINES; i++)
        if (!strcmp(engines[i]->name, name))
            return engines[i];
    return NULL;
}

const tfr_codec *tfr_codec_at(size_t i)
{
    return i < NENGINES ? engines[i] : NULL;
}
