/*
 * tfrecord/checkpoint.h - save and load a model with its training state so
 * that a run resumes exactly.
 *
 * Layout (little-endian): "TFRCKPT\0" | u32 version | i32 config[16] |
 * u64 nparams | u64 nstats | u64 epoch, step, seed, stream_epoch,
 * stream_records | f64 best_val_acc | f32 params | f32 momentum |
 * f32 BN statistics | u32 crc32c of every byte before it. A checkpoint holds
 * the host values whichever device trained the model.
 */
#ifndef TFRECORD_CHECKPOINT_H
#define TFRECORD_CHECKPOINT_H

#include <stdint.h>

#include "tfrecord/error.h"
#include "tfrecord/model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tfr_train_state {
    uint64_t epoch;        /* epochs completed */
    uint64_t step;         /* optimizer steps taken */
    uint64_t seed;         /* data stream seed */
    uint64_t stream_epoch, stream_records; /* data stream position */
    double   best_val_acc;
    /* the learning-rate schedule the run had (have_schedule: the checkpoint
     * records it), so a resumed run can say when it changes */
    int      have_schedule, epochs, lr_every, cosine, warmup_epochs;
    float    lr, lr_decay;
} tfr_train_state;

/*
 * Self-describing binary: magic, version, config, parameters, momentum, BN
 * running statistics, training state, CRC-32C. Written to a temporary name
 * and renamed; a truncated or foreign file is refused on load.
 */
TFR_API tfr_status tfr_checkpoint_save(const char *path, const tfr_model *m, const tfr_train_state *st,
                                       tfr_error *err);
/* Loads into a new model (*out) and *st. */
TFR_API tfr_status tfr_checkpoint_load(const char *path, tfr_model **out, tfr_train_state *st,
                                       tfr_error *err);
/* CRC-32C of a checkpoint's contents (identifies a backbone). */
TFR_API tfr_status tfr_checkpoint_checksum(const char *path, uint32_t *crc, tfr_error *err);

#ifdef __cplusplus
}
#endif

#endif /* TFRECORD_CHECKPOINT_H */
