"""dedup: exact (normalised instruction + code) and near duplicates (MinHash LSH over code shingles).

Two passes so the result does not depend on which duplicate came first: `build_plan` indexes
every live record and unions colliding records into clusters; `apply_plan` streams the records
again, keeps the highest-scoring record of each cluster (ties: smallest sample_id) and rejects the
others with the kept record named.

The index is one fixed-size numpy row per live record (`feature_dtype`: 16-byte exact key, score,
12-byte id, and one 64-bit key per LSH band of a datasketch MinHash signature; 76 bytes with the
defaults, i.e. ~76 MB per million live records). Rows are computed per record (`features`, in the
executor's workers in the pipeline) and clustered with sorts (`plan_from_index`) instead of
datasketch's MinHashLSH dict-of-lists tables, which took 3-8 GB per million records.
"""

from __future__ import annotations

import hashlib
import re
import struct
from functools import lru_cache
from dataclasses import dataclass, field
from typing import Iterable, Iterator

import numpy as np

from codesft.curate.config import DedupConfig
from codesft.curate.gate import fork, reject
from codesft.schema import Dedup, Sample

_TOKEN = re.compile(r"\w+|[^\w\s]")
_WS = re.compile(r"\s+")


def dedup_text(s: Sample) -> tuple[str, str]:
    code = s.code.solution if s.code and s.code.solution else s.assistant_text()
    return _WS.sub(" ", s.user_text().lower()).strip(), _WS.sub(" ", code).strip()


def exact_key(s: Sample) -> bytes:
    return _exact_key(*dedup_text(s))


def _exact_key(instruction: str, code: str) -> bytes:
    return hashlib.blake2b(f"{instruction}\x00{code}".encode(), digest_size=16).digest()


def shingles(text: str, k: int) -> list[bytes]:
    toks = _TOKEN.findall(text)
    if len(toks) <= k:
        return [" ".join(toks).encode()] if toks else []
    return list({" ".join(toks[i:i + k]).encode() for i in range(len(toks) - k + 1)})


@dataclass
class DedupPlan:
    """record index (in live-record order) -> (cluster id, kept, method, size)."""
    members: dict[int, tuple[str, bool, str, int]] = field(default_factory=dict)
    records: int = 0
    clusters: int = 0
    index_bytes: int = 0  # size of the in-memory index the plan was built from


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[int, int] = {}

    def find(self, x: int) -> int:
        root = x
        while self.parent.get(root, root) != root:
            root = self.parent[root]
        while self.parent.get(x, x) != root:
            self.parent[x], x = root, self.parent[x]
        return root

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)
            self.parent.setdefault(min(ra, rb), min(ra, rb))


@lru_cache(maxsize=8)
def _minhash_setup(num_perm: int, threshold: float):
    """Shared permutations (datasketch MinHash, seed 1) and datasketch's own (bands, rows) for the threshold."""
    from datasketch import MinHash
    from datasketch.lsh import _optimal_param

    bands, rows = _optimal_param(threshold, num_perm, 0.5, 0.5)
    return MinHash(num_perm=num_perm, seed=1), bands, rows


@lru_cache(maxsize=8)
def _feature_dtype(near: bool, num_perm: int, threshold: float) -> np.dtype:
    bands = _minhash_setup(num_perm, threshold)[1] if near else 0
    return np.dtype([("exact", "V16"), ("score", "<f8"), ("id", "S12"), ("has_bands", "u1"),
                     ("bands", "<u8", (bands,))])


def feature_dtype(cfg: DedupConfig) -> np.dtype:
    """One index row per live record: 37 + 8 * bands bytes (77 bytes with the defaults: 5 bands of 11)."""
    return _feature_dtype(cfg.near, cfg.num_perm, cfg.threshold)


def features(s: Sample, cfg: DedupConfig) -> bytes:
    """The record's index row (`feature_dtype`, packed): exact key, score, id and the LSH band keys of its
    MinHash signature. A band key is a 64-bit blake2b of the band's MinHash values; two records collide
    in a band exactly when datasketch's MinHashLSH would put them in the same bucket (up to 2^-64 hash
    collisions). Pure and per record, so it runs in the executor's workers."""
    nbands = _minhash_setup(cfg.num_perm, cfg.threshold)[1] if cfg.near else 0
    keys = [0] * nbands
    has = 0
    text = dedup_text(s)  # once for the exact key and the shingles
    if cfg.near:
        sh = shingles(text[1], cfg.shingle_size)
        if sh:
            seed_mh, bands, rows = _minhash_setup(cfg.num_perm, cfg.threshold)
            hv = minhash_values(sh, seed_mh)
            has = 1
            keys = [int.from_bytes(hashlib.blake2b(hv[i * rows:(i + 1) * rows].byteswap().tobytes(),
                                                   digest_size=8).digest(), "little") for i in range(bands)]
    sid = bytes.fromhex(s.sample_id.ljust(24, "0")[:24])
    return struct.pack(f"<16sd12sB{nbands}Q", _exact_key(*text), s.quality.score, sid, has, *keys)


def minhash_values(shingles_: list[bytes], seed_mh) -> np.ndarray:
    """`MinHash(seed=1, permutations=seed_mh.permutations).update_batch(shingles_).hashvalues`.

    For datasketch's default "affine32" scheme the input hashes (sha1_hash32: first 4 bytes of sha1,
    little-endian) are computed into one numpy array and permuted with datasketch's own `_fmix` and
    permutations, the same arithmetic as its CPU path, so the values are identical (tested); this
    skips its per-shingle `struct.unpack` call and input validation (~2-3x faster). Other schemes go
    through datasketch unchanged."""
    from datasketch import minhash as dm

    if seed_mh.scheme != "affine32" or not hasattr(dm, "_fmix"):
        mh = dm.MinHash(num_perm=len(seed_mh.hashvalues), seed=1, permutations=seed_mh.permutations,
                        scheme=seed_mh.scheme)
        mh.update_batch(shingles_)
        return mh.hashvalues
    a, b = seed_mh.permutations
    hv = np.frombuffer(b"".join([hashlib.sha1(x).digest()[:4] for x in shingles_]), dtype="<u4")
    hv = dm._fmix(hv.astype(np.uint32).reshape(-1, 1), 32)
    with np.errstate(over="ignore"):
        phv = hv * a + b
    return np.minimum(seed_mh.hashvalues, phv.min(axis=0))


def plan_from_index(index: np.ndarray) -> DedupPlan:
    """Cluster the live records of a feature index (rows in live-record order).

    Exact copies join the first record with the same key; records that share any LSH band key join
    (connected components, as MinHashLSH query + union did). Memory: the index itself plus O(duplicates).
    The winner of a cluster is the highest score, then the smallest sample_id."""
    n = len(index)
    uf = _UnionFind()
    near_edges: list[tuple[int, int]] = []
    is_first = np.ones(n, dtype=bool)
    if n:
        order = np.argsort(index["exact"], kind="stable")
        keys = index["exact"][order]
        same = np.flatnonzero(keys[1:] == keys[:-1]) + 1  # positions whose key equals the previous one
        starts = order[np.r_[0, np.flatnonzero(keys[1:] != keys[:-1]) + 1]]
        group_first = np.empty(n, dtype=np.int64)
        grp = np.cumsum(np.r_[True, keys[1:] != keys[:-1]]) - 1
        group_first[order] = starts[grp]
        for pos in same:
            i = int(order[pos])
            first = int(group_first[i])
            uf.union(first, i)
            is_first[i] = False
        reps = np.flatnonzero(is_first & (index["has_bands"] == 1))
        bands = index["bands"][reps] if index["bands"].ndim == 2 else np.zeros((len(reps), 0), np.uint64)
        for j in range(bands.shape[1]):
            col = bands[:, j]
            o = np.argsort(col, kind="stable")
            sc = col[o]
            for pos in np.flatnonzero(sc[1:] == sc[:-1]) + 1:
                a, b = int(reps[o[pos - 1]]), int(reps[o[pos]])
                uf.union(a, b)
                near_edges.append((a, b))
    near_roots = {uf.find(a) for a, _ in near_edges}
    clusters: dict[int, list[int]] = {}
    for x in list(uf.parent):
        clusters.setdefault(uf.find(x), []).append(x)
    plan = DedupPlan(records=n, index_bytes=int(index.nbytes))
    for root, members in sorted(clusters.items()):
        if len(members) < 2:
            continue
        plan.clusters += 1

        def sid(i: int) -> str:
            return bytes(index["id"][i]).ljust(12, b"\0").hex()

        winner = min(members, key=lambda i: (-float(index["score"][i]), sid(i)))
        method = "near" if root in near_roots else "exact"
        for i in members:
            plan.members[i] = (sid(winner), i == winner, method, len(members))
    return plan


def build_plan(samples: Iterable[Sample], cfg: DedupConfig) -> DedupPlan:
    """Index every live record, then cluster (see `plan_from_index`)."""
    rows = b"".join(features(s, cfg) for s in samples if s.quality.decision != "rejected")
    return plan_from_index(np.frombuffer(rows, dtype=feature_dtype(cfg)))


def apply_plan(samples: Iterable[Sample], plan: DedupPlan) -> Iterator[Sample]:
    """`samples` must be the same records, in the same order, that built the plan (rejected ones pass)."""
    idx = -1
    for s in samples:
        if s.quality.decision == "rejected":
            yield s
            continue
        idx += 1
        info = plan.members.get(idx)
        if info is None:
            yield s
            continue
        yield apply_member(s, info)


def apply_member(s: Sample, info: tuple[str, bool, str, int]) -> Sample:
    """Record the cluster on a copy of `s`; reject it unless it is the cluster's kept record."""
    cluster, kept, method, size = info
    s = fork(s)
    s.dedup = Dedup(cluster_id=cluster, kept=kept, method=method, size=size)
    if not kept:
        reject(s, f"{'exact' if method == 'exact' else 'near'}_duplicate: of {cluster}", "dedup")
    return s


__all__ = ["DedupPlan", "build_plan", "plan_from_index", "features", "feature_dtype", "apply_plan", "exact_key", "shingles"]
