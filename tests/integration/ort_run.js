// tests/integration/ort_run.js - run an exported ONNX model in ONNX Runtime
// (npm onnxruntime-node, its CPU runtime), independently of this project's
// code, on images given as the uint8 HxWxC pixels `tfrecord-label
// --save-input` writes.
//
//   node ort_run.js MODEL.onnx PIXELS H W C [--batch B] [--float MEAN STD]
//                   [--bench SECONDS]
//
// Prints one JSON object: the session's input and output names, and either
// every image's "logits" and "probabilities" (rows), or with --bench the
// images per second of repeated runs over all the images in batches of B
// (each repeat timed; min, median and max).
// --float feeds a float32 NCHW "input" normalized here as (x / 255 - mean) /
// std instead of the uint8 NHWC "pixels". The runtime is found in
// $TFR_ORT_DIR/node_modules (npm install --prefix $TFR_ORT_DIR onnxruntime-node).
'use strict';
const fs = require('fs');
const path = require('path');

const ortDir = process.env.TFR_ORT_DIR;
if (!ortDir) {
    console.error('ort_run.js: set TFR_ORT_DIR to the folder holding node_modules/onnxruntime-node');
    process.exit(2);
}
const ort = require(path.join(ortDir, 'node_modules', 'onnxruntime-node'));

const argv = process.argv.slice(2);
if (argv.length < 5) {
    console.error('usage: node ort_run.js MODEL.onnx PIXELS H W C [--batch B] [--float MEAN STD] [--bench SECONDS]');
    process.exit(2);
}
const [modelPath, pixPath] = argv;
const H = +argv[2], W = +argv[3], C = +argv[4];
let batch = 64, floatIn = null, benchSeconds = 0;
for (let i = 5; i < argv.length; i++) {
    if (argv[i] === '--batch') batch = +argv[++i];
    else if (argv[i] === '--float') { floatIn = [+argv[i + 1], +argv[i + 2]]; i += 2; }
    else if (argv[i] === '--bench') benchSeconds = +argv[++i];
    else { console.error(`ort_run.js: unknown argument ${argv[i]}`); process.exit(2); }
}
const per = H * W * C;
const pix = fs.readFileSync(pixPath);
if (pix.length % per !== 0) {
    console.error(`ort_run.js: ${pixPath} holds ${pix.length} bytes, not a whole number of ${H}x${W}x${C} images`);
    process.exit(1);
}
const count = pix.length / per;

// one batch of images [from, from + n) as the model's input tensor
function feed(session, from, n) {
    const name = session.inputNames[0];
    const src = new Uint8Array(pix.buffer, pix.byteOffset + from * per, n * per);
    if (!floatIn)
        return { [name]: new ort.Tensor('uint8', src, [n, H, W, C]) };
    const [mean, std] = floatIn;
    const x = new Float32Array(n * per);
    for (let b = 0; b < n; b++)
        for (let c = 0; c < C; c++)
            for (let i = 0; i < H * W; i++)
                x[b * per + c * H * W + i] = (Math.fround(src[b * per + i * C + c] / 255) - mean) / std;
    return { [name]: new ort.Tensor('float32', x, [n, C, H, W]) };
}

async function main() {
    const opts = { intraOpNumThreads: +(process.env.TFR_ORT_THREADS || 0), graphOptimizationLevel: 'all' };
    const session = await ort.InferenceSession.create(modelPath, opts);
    const out = { inputs: session.inputNames, outputs: session.outputNames, images: count };
    if (benchSeconds > 0) {
        const times = [];
        const t_end = Date.now() + benchSeconds * 1000;
        do {
            const t0 = process.hrtime.bigint();
            for (let i = 0; i < count; i += batch)
                await session.run(feed(session, i, Math.min(batch, count - i)));
            times.push(Number(process.hrtime.bigint() - t0) / 1e9);
        } while (Date.now() < t_end || times.length < 3);
        times.sort((a, b) => a - b);
        out.batch = batch;
        out.repeats = times.length;
        out.images_per_second = {
            min: count / times[times.length - 1],
            median: count / times[times.length >> 1],
            max: count / times[0],
        };
    } else {
        out.logits = [];
        out.probabilities = [];
        for (let i = 0; i < count; i += batch) {
            const n = Math.min(batch, count - i);
            const r = await session.run(feed(session, i, n));
            const lg = r.logits, pr = r.probabilities;
            const K = lg.dims[1];
            for (let b = 0; b < n; b++) {
                out.logits.push(Array.from(lg.data.subarray(b * K, (b + 1) * K)));
                out.probabilities.push(Array.from(pr.data.subarray(b * K, (b + 1) * K)));
            }
        }
    }
    process.stdout.write(JSON.stringify(out) + '\n');
}
main().catch((e) => { console.error(`ort_run.js: ${e.message || e}`); process.exit(1); });
