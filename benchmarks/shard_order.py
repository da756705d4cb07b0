"""Shard-aware order (``Loader(order="shard_blocks")``) vs a global shuffle, from the real
sampler code (:func:`fastload.loader.sampler.shard_block_order`, ``epoch_order``,
``plan_epoch``). Not a timed test: a script that prints the tables in
``docs/remote.md``.

    python benchmarks/shard_order.py quality   # shuffle quality, working set, LRU downloads
    python benchmarks/shard_order.py scale     # ImageNet-1k on 1..512 nodes x 8 ranks

Model: ImageNet-1k train, 1,281,167 samples, 140 GB (109 kB a sample), 1000 classes.
Shards hold consecutive samples of the build order; ``--layout sorted`` keeps the
builder's class-sorted order (each shard holds one or two classes), ``--layout shuffled``
assumes the items were shuffled (with a fixed seed) before the build.
"""

import argparse
from collections import OrderedDict

import numpy as np

from fastload.loader.sampler import epoch_order, plan_epoch, shard_block_order

N = 1_281_167
DATASET_BYTES = 140e9
CLASSES = 1000
SAMPLE_BYTES = DATASET_BYTES / N


def make_layout(n, shard_bytes, layout, seed=0):
    """(shard_of, label) per dataset index."""
    per_shard = max(1, int(round(shard_bytes / SAMPLE_BYTES)))
    shard_of = np.arange(n, dtype=np.int64) // per_shard
    label = (np.arange(n, dtype=np.int64) * CLASSES) // n  # class-sorted
    if layout == "shuffled":
        label = np.random.default_rng(seed).permutation(label)
    return shard_of, label


def rank_sequences(order, n, world, batch):
    """Dataset indices each rank reads in one epoch ("drop" policy), in order."""
    out = []
    for r in range(world):
        plan = plan_epoch(n, batch_size=batch, world_size=world, rank=r, epoch_end="drop")
        pos = np.concatenate(plan.positions) if len(plan) else np.zeros(0, np.int64)
        out.append(order[pos])
    return out


def max_open(shards):
    """Most shards between their first and last use at any point of ``shards``."""
    if len(shards) == 0:
        return 0
    uniq, first = np.unique(shards, return_index=True)
    last = len(shards) - 1 - np.unique(shards[::-1], return_index=True)[1]
    delta = np.zeros(len(shards) + 1, dtype=np.int64)
    np.add.at(delta, first, 1)
    np.add.at(delta, last + 1, -1)
    return int(np.cumsum(delta).max())


def lru_misses(shards, capacity, lookahead):
    """Whole-shard downloads of an LRU cache of ``capacity`` shards, with the next
    ``lookahead`` distinct shards prefetched (and so touched) ahead of use."""
    cache = OrderedDict()
    misses = 0
    # distinct shard runs: consecutive equal accesses touch the cache once
    runs = shards[np.r_[True, shards[1:] != shards[:-1]]].tolist()
    upcoming = []
    for i, s in enumerate(runs):
        upcoming = []
        j = i
        while len(upcoming) < lookahead and j < len(runs):
            if runs[j] not in upcoming:
                upcoming.append(runs[j])
            j += 1
        for t in [s, *upcoming]:
            if t in cache:
                cache.move_to_end(t)
            else:
                misses += 1
                cache[t] = None
                while len(cache) > capacity:
                    cache.popitem(last=False)
    return misses


def quality(args):
    n = args.samples
    shard_of, label = make_layout(n, args.shard_mb * 2**20, args.layout)
    shard_bytes = np.bincount(shard_of) * SAMPLE_BYTES
    w, b = args.world, args.batch
    iid = CLASSES * (1 - (1 - 1 / CLASSES) ** b)
    print(
        f"# {n} samples, {len(shard_bytes)} shards of {args.shard_mb} MiB, layout={args.layout}, "
        f"{w} ranks x batch {b}; iid batch would hold {iid:.0f} distinct classes"
    )
    print(
        "| order | window | classes/batch | shards/batch | lag-1 corr | max open shards/rank "
        f"| downloads/rank (LRU {args.cache} shards) / share |"
    )
    print("|---|---|---|---|---|---|---|")
    rows = [("global", None)] + [("shard_blocks", m) for m in args.windows]
    for name, m in rows:
        if name == "global":
            order = epoch_order(n, args.seed, 0)
        else:
            order = shard_block_order(
                shard_of, args.seed, 0, world_size=w, batch_size=b, shard_window=m
            )
        seqs = rank_sequences(order, n, w, b)
        classes, shards_per, corr, opened, ratio = [], [], [], [], []
        for seq in seqs:
            nb = len(seq) // b
            lab = label[seq[: nb * b]].reshape(nb, b)
            sh = shard_of[seq[: nb * b]].reshape(nb, b)
            classes.append(np.mean([len(np.unique(x)) for x in lab[:: max(1, nb // 50)]]))
            shards_per.append(np.mean([len(np.unique(x)) for x in sh[:: max(1, nb // 50)]]))
            corr.append(abs(np.corrcoef(seq[:-1], seq[1:])[0, 1]))
            ss = shard_of[seq]
            opened.append(max_open(ss))
            if name == "global":
                ratio.append(float("nan"))  # whole-shard LRU under a global order: see scale
            else:
                ahead = m + 2
                miss = lru_misses(ss, args.cache, ahead)
                ratio.append(miss * shard_bytes.mean() / (shard_bytes.sum() / w))
        print(
            f"| {name} | {m or '-'} | {np.mean(classes):.0f} | {np.mean(shards_per):.1f} "
            f"| {np.mean(corr):.4f} | {max(opened)} | "
            f"{'-' if name == 'global' else f'{max(ratio):.3f}'} |"
        )


def scale(args):
    print(
        "| shard size | nodes | ranks | shards/rank | node download, shard_blocks (GB/epoch) | "
        "node share (GB) | max open shards/rank | "
        "node cache (GB) = 8 x (max(open, window+2) + 1) shards | "
        "node download, global (GB/epoch) | total egress shard_blocks / global (TB/epoch) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for shard_mb in args.shard_sizes:
        shard_of, _ = make_layout(N, shard_mb * 2**20, "shuffled")
        num_shards = int(shard_of[-1]) + 1
        sb = np.bincount(shard_of) * SAMPLE_BYTES
        for nodes in args.nodes:
            w = nodes * 8
            g = args.batch * w
            used = (N // g) * g  # "drop": the tail is dropped
            ranks_of = (np.arange(used) % g) // args.batch
            node_of = ranks_of // 8
            res = {}
            for name in ("shard_blocks", "global"):
                if name == "global":
                    order = epoch_order(N, args.seed, 0)
                else:
                    order = shard_block_order(
                        shard_of,
                        args.seed,
                        0,
                        world_size=w,
                        batch_size=args.batch,
                        shard_window=args.window,
                    )
                sh = shard_of[order[:used]]
                pairs = np.unique(node_of * num_shards + sh)
                node_bytes = np.bincount(
                    pairs // num_shards, weights=sb[pairs % num_shards], minlength=nodes
                )
                res[name] = node_bytes
                if name == "shard_blocks":
                    # working set of the busiest of a few sampled ranks
                    opened = 0
                    for r in np.linspace(0, w - 1, min(w, 16)).astype(int):
                        opened = max(opened, max_open(sh[ranks_of == r]))
            share = DATASET_BYTES / nodes
            # per rank: the shards open plus the prefetched ones not yet open, at most
            # max(open, prefetch_shards = window + 2) + 1 (the one being downloaded)
            cache_gb = 8 * (max(opened, args.window + 2) + 1) * sb.mean() / 1e9
            print(
                f"| {shard_mb} MiB | {nodes} | {w} | {num_shards / w:.2f} | "
                f"{res['shard_blocks'].max() / 1e9:.1f} | {share / 1e9:.1f} | {opened} | "
                f"{cache_gb:.1f} | {res['global'].max() / 1e9:.1f} | "
                f"{res['shard_blocks'].sum() / 1e12:.2f} / {res['global'].sum() / 1e12:.2f} |"
            )


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    q = sub.add_parser("quality")
    q.add_argument("--samples", type=int, default=N)
    q.add_argument("--shard-mb", type=float, default=64)
    q.add_argument("--layout", choices=["sorted", "shuffled"], default="shuffled")
    q.add_argument("--world", type=int, default=8)
    q.add_argument("--batch", type=int, default=256)
    q.add_argument("--windows", type=int, nargs="+", default=[1, 4, 8])
    q.add_argument("--cache", type=int, default=8)
    q.add_argument("--seed", type=int, default=0)
    s = sub.add_parser("scale")
    s.add_argument("--nodes", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32, 64, 128, 256, 512])
    s.add_argument("--shard-sizes", type=float, nargs="+", default=[256, 32])
    s.add_argument("--batch", type=int, default=32)
    s.add_argument("--window", type=int, default=4)
    s.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    {"quality": quality, "scale": scale}[args.cmd](args)


if __name__ == "__main__":
    main()
