"""tfrecord_tools: the tfrecord-tools streaming reader for NumPy and PyTorch.

    import tfrecord_tools as tt
    for images, labels in tt.Stream("shards/manifest.json", split="train",
                                    batch_size=128, format="float32",
                                    mean=0.5, std=0.25, flip=True, seed=1):
        ...   # images: float32 (N, C, H, W); labels: int64 (N,)

Stream(source, *, batch_size=32, size=None, channels=3, format="uint8",
       layout=None, flip=False, pad_crop=0, random_resized_crop=0.0,
       center_crop=0.0, mean=None, std=None, shuffle_buffer=1024,
       shuffle_files=True, interleave=4, seed=0, epochs=1, rank=0, world=1,
       threads=0, prefetch=2, split=None, drop_remainder=False,
       skip_corrupt=False, num_classes=0, image_key=None, label_key=None,
       state=None, copy=True, split_records=False, random_erase=0.0)

  source     a shard file, a folder, a glob ('shards/train-*'), a
             manifest.json, or a list of them; split="train" reads that
             split of a folder or manifest (as 'shards:train').
  format     "uint8": uint8 NHWC pixels; "float32": (x/255 - mean) / std,
             layout "NCHW" (default) or "NHWC".
  size       an int or (height, width); None: the first image's size.
  random_erase  with this probability a random rectangle (2-33% of the
             image) is set to the mean: 0 in float batches.
  epochs     0 = forever. seed, epoch and position fix every random
             choice: the same batches for any thread count.
  rank/world this process's share of every epoch, the same number of
             records for every rank. With at least `world` files each rank
             reads whole files and stops at the smallest rank's share (the
             rest of that epoch is left out); split_records=True splits by
             records instead (at most world - 1 left out; each rank reads
             every file, or only its range where the shards are indexed);
             split_records="exact" splits by records with none left out
             (shares differ by at most one record: for evaluation, where
             every record must count once).
  state      a dict from Stream.state(): resume exactly where it was taken.
  copy       True: every batch is a fresh array. False: the arrays view the
             stream's buffer and stay valid only until the next batch is
             taken or the stream is closed (no copy; use them, or copy them,
             before asking for more).

Iterating yields (images, labels). len(stream) is the number of batches in
one epoch for this rank (from manifest.json counts or shard indexes;
TypeError when unknown). Errors in the data raise DataError, an OSError with
.path, .record and .offset (None where not known) and .kind; bad options
raise ValueError. The GIL is released while the C side reads and waits.

For any TFRecord file, images or not:

  records(path, *, compression="auto", skip_corrupt=False)
             an iterator of each record's bytes; every length and data CRC
             is checked (DataError with .path, .record, .offset otherwise;
             skip_corrupt=True skips bad records and counts them in
             .stats()). A context manager.
  parse_example(data)
             a serialized tf.train.Example as {key: value}: int64 and float
             lists as 1-D int64 / float32 arrays, bytes lists as lists of
             bytes.
  write(roots, out, **options)
             tfrecord-write: roots "DIR", "SPLIT=DIR" or a list of them;
             options as the tool's (splits="train=90,test=10", size,
             resize, channels, flip, layout, quality, shards, compression,
             index, seed, threads, strict, force, ...). Returns the report
             as `tfrecord-write --json` prints it.
  inspect(paths, *, compression="auto", label_key=None, max_errors=20, verify=False)
             tfrecord-inspect: every record read and checked; the report as
             `tfrecord-inspect --json` prints it, defects listed in it;
             verify=True raises DataError for the first defect instead
             (as `tfrecord-inspect --verify` exits 1).
"""

from ._native import DataError, Stream, inspect, parse_example, records, write


def _data_error_str(self):
    # the library's whole message (file, record, offset, reason): OSError's
    # own __str__ prints "[Errno None] None: FILE" once filename is set
    return str(self.args[-1]) if self.args else ""


DataError.__str__ = _data_error_str

__all__ = ["Stream", "DataError", "records", "parse_example", "write", "inspect"]
__version__ = "0.1.0"
