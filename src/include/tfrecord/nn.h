/*
 * tfrecord/nn.h - umbrella for the network and its drivers: the ResNet model
 * (model.h), checkpoints (checkpoint.h), TensorBoard event files (events.h),
 * training and evaluation (train.h), last-layer retraining (retrain.h) and
 * ONNX export (onnx.h).
 *
 * Include the one header you need; this one keeps older includes working.
 */
#ifndef TFRECORD_NN_H
#define TFRECORD_NN_H

#include "tfrecord/model.h"
#include "tfrecord/checkpoint.h"
#include "tfrecord/events.h"
#include "tfrecord/train.h"
#include "tfrecord/retrain.h"
#include "tfrecord/onnx.h"

#endif /* TFRECORD_NN_H */
