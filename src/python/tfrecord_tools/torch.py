"""tfrecord_tools.torch: the stream as a torch.utils.data.IterableDataset.

    from tfrecord_tools.torch import StreamDataset
    ds = StreamDataset("shards", split="train", batch_size=128,
                       format="float32", mean=0.5, std=0.25, flip=True, seed=1)
    loader = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=2,
                                         pin_memory=True)
    for epoch in range(epochs):
        ds.set_epoch(epoch)
        for images, labels in loader:
            ...

The dataset yields whole batches (give the DataLoader batch_size=None).
Each DataLoader worker of each torch.distributed rank reads its own share
of the epoch: the stream's rank is rank * num_workers + worker and its world
world_size * num_workers, split by records (split_records=True, unless
given): no record is read twice in an epoch, every worker takes the same
number of records, and at most world - 1 records of an epoch are left out
to make the shares equal (for a validation set give split_records="exact":
every record once, shares differing by at most one record, so a rank's
last batch may be short or missing). Each worker reads every shard and keeps its
records, or reads only its own range where the shards are indexed
(tfrecord-write --index). len() is the batches of one epoch for this rank
read without workers (with workers, each one's last batch may be short).
Every option of tfrecord_tools.Stream is accepted, except rank, world,
epochs and state, which the dataset sets.
"""

import torch
import torch.utils.data

from . import Stream

__all__ = ["StreamDataset"]


def _dist():
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


class StreamDataset(torch.utils.data.IterableDataset):
    def __init__(self, source, *, rank=None, world=None, **options):
        super().__init__()
        for k in ("epochs", "state"):
            if k in options:
                raise TypeError(f"StreamDataset sets '{k}' itself (use set_epoch)")
        self.source = source
        options.setdefault("split_records", True)
        self.options = options
        self.epoch = 0
        self.rank, self.world = rank, world

    def set_epoch(self, epoch):
        """The epoch the next iteration reads (its shuffle and augmentation)."""
        self.epoch = int(epoch)

    def _ranks(self):
        rank, world = _dist()
        return (rank if self.rank is None else self.rank,
                world if self.world is None else self.world)

    def _share(self):
        rank, world = self._ranks()
        info = torch.utils.data.get_worker_info()
        if info is None:
            return rank, world
        return rank * info.num_workers + info.id, world * info.num_workers

    def _stream(self, rank, world):
        seed = self.options.get("seed", 0)
        return Stream(self.source, rank=rank, world=world, epochs=self.epoch + 1,
                      state={"seed": seed, "epoch": self.epoch, "records": 0},
                      **{k: v for k, v in self.options.items() if k != "seed"})

    def __iter__(self):
        rank, world = self._share()
        with self._stream(rank, world) as s:
            for images, labels in s:
                yield torch.from_numpy(images), torch.from_numpy(labels)

    def __len__(self):
        with self._stream(*self._ranks()) as s:
            return len(s)
