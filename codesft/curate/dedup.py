"""dedup: exact and near duplicates of (instruction, normalised code).

What is compared: the lower-cased, whitespace-collapsed instruction and the code with comments,
docstrings and blank lines removed (`codenorm.normalized_code`), so a copy with an added comment is an
exact duplicate. Near duplicates: MinHash over token shingles of instruction and code together; an LSH
band hit only nominates a pair, which counts once the signatures' estimated Jaccard (datasketch's
`MinHash.jaccard`: the share of equal values) reaches the threshold.

Two passes so the result does not depend on which duplicate came first: `build_plan` indexes every live
record and clusters; `apply_plan` streams the records again, keeps each cluster's representative and
rejects the others with the kept record named. Clusters are built greedily in priority order (highest
score, then smallest sample_id): the best record not yet taken becomes a representative and takes every
record that is a confirmed near duplicate *of it*. So A~B and B~C do not make C a duplicate of A unless
A~C holds too (no transitive chaining), and every rejected record names a kept record it duplicates.

The index is one fixed-size numpy row per live record (`feature_dtype`: 16-byte exact key, score, 12-byte
id, one 64-bit key per LSH band, and the MinHash signature, 4 bytes per permutation). Rows are computed
per record (`features`, in the executor's workers in the pipeline) and clustered with sorts. The
pipeline keeps only the first five fields in memory (77 bytes per record with the defaults) and reads
signatures from the checkpoint file for the records in a band hit (`plan_from_file`); datasketch's
MinHashLSH dict-of-lists tables took 3-8 GB per million records.
"""

from __future__ import annotations

import hashlib
import re
import struct
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from codesft.curate.codenorm import collapse, normalized_code
from codesft.curate.config import DedupConfig
from codesft.curate.gate import fork, reject
from codesft.schema import Dedup, Sample

_TOKEN = re.compile(r"\w+|[^\w\s]")
CHUNK_ROWS = 65536  # index rows read at a time by `plan_from_file`


def dedup_text(s: Sample) -> tuple[str, str]:
    """(instruction, code) as compared: the code without comments, docstrings and blank lines."""
    if s.code and s.code.solution:
        code = normalized_code(s.code.solution, s.code.language)
    else:
        code = collapse(s.assistant_text())
    return collapse(s.user_text().lower()), code


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
    band_hits: int = 0  # candidate pairs an LSH band nominated and the Jaccard check judged
    confirmed: int = 0  # of those, pairs at or above the threshold


# Weights of datasketch's (bands, rows) optimiser: MinHashLSH's defaults (5 bands of 11 rows for 0.8 and 64
# permutations). Weighing recall instead (e.g. 0.05/0.95: 10 bands of 6) finds a pair at exactly the threshold
# with probability 0.95 instead of 0.36, but templated records (shared boilerplate, Jaccard 0.4-0.6) then fill
# buckets, and every candidate must be checked against a representative: on the synthetic benchmark, 430x more
# checks at 50k records (6.9M), growing with the square of the records, for 1.7% more near duplicates found.
FALSE_POSITIVE_WEIGHT, FALSE_NEGATIVE_WEIGHT = 0.5, 0.5


@lru_cache(maxsize=8)
def _minhash_setup(num_perm: int, threshold: float):
    """Shared permutations (datasketch MinHash, seed 1) and datasketch's (bands, rows) for the threshold."""
    from datasketch import MinHash
    from datasketch.lsh import _optimal_param

    bands, rows = _optimal_param(threshold, num_perm, FALSE_POSITIVE_WEIGHT, FALSE_NEGATIVE_WEIGHT)
    return MinHash(num_perm=num_perm, seed=1), bands, rows


COMPACT_FIELDS = ("exact", "score", "id", "has_bands", "bands")  # what the plan keeps in memory


@lru_cache(maxsize=8)
def _feature_dtype(near: bool, num_perm: int, threshold: float) -> np.dtype:
    seed_mh, bands, _ = _minhash_setup(num_perm, threshold)
    sig = seed_mh.hashvalues.dtype.newbyteorder("<")  # 32-bit values for datasketch's default affine32 scheme
    return np.dtype([("exact", "V16"), ("score", "<f8"), ("id", "S12"), ("has_bands", "u1"),
                     ("bands", "<u8", (bands if near else 0,)), ("sig", sig, (num_perm if near else 0,))])


def feature_dtype(cfg: DedupConfig) -> np.dtype:
    """One index row per live record: 37 + 8 * bands + 4 * num_perm bytes (333 bytes with the defaults: 5
    bands of 11 rows, 64 permutations), of which the first 77 are kept in memory."""
    return _feature_dtype(cfg.near, cfg.num_perm, cfg.threshold)


def dedup_shingles(text: tuple[str, str], k: int) -> list[bytes]:
    """Shingles of instruction and code together: the same code answering another question is another record."""
    return shingles(f"{text[0]}\n{text[1]}", k)


@lru_cache(maxsize=8)
def _band_mix(rows: int) -> np.ndarray:
    """Odd 64-bit multipliers (from blake2b of their position) that fold a band's values into one key."""
    return np.array([int.from_bytes(hashlib.blake2b(i.to_bytes(4, "little"), digest_size=8).digest(), "little") | 1
                     for i in range(rows)], dtype=np.uint64)


def features(s: Sample, cfg: DedupConfig) -> bytes:
    """The record's index row (`feature_dtype`, packed): exact key, score, id, the LSH band keys of its
    MinHash signature and the signature. A band key is sum(value_i * m_i) mod 2^64 over the band's rows (fixed
    odd multipliers m_i): records with equal band values collide, as in datasketch's MinHashLSH; unequal ones
    rarely do, and when they do the Jaccard check in `plan_from_index` rejects the pair (so the cheap key, ~2 µs
    for all bands, costs no precision). Pure and per record, so it runs in the executor's workers."""
    nbands = _minhash_setup(cfg.num_perm, cfg.threshold)[1] if cfg.near else 0
    keys = bytes(8 * nbands)
    has = 0
    sig = b""
    text = dedup_text(s)  # once for the exact key and the shingles
    if cfg.near:
        sig = bytes(feature_dtype(cfg)["sig"].itemsize)
        sh = dedup_shingles(text, cfg.shingle_size)
        if sh:
            seed_mh, bands, rows = _minhash_setup(cfg.num_perm, cfg.threshold)
            hv = minhash_values(sh, seed_mh)
            has = 1
            band_values = hv[:bands * rows].reshape(bands, rows).astype(np.uint64)
            keys = (band_values * _band_mix(rows)).sum(axis=1, dtype=np.uint64).astype("<u8").tobytes()
            sig = hv.astype(feature_dtype(cfg)["sig"].base, copy=False).tobytes()
    sid = bytes.fromhex(s.sample_id.ljust(24, "0")[:24])
    return struct.pack("<16sd12sB", _exact_key(*text), s.quality.score, sid, has) + keys + sig


def jaccard(sig: np.ndarray, others: np.ndarray) -> np.ndarray:
    """`MinHash.jaccard` of one signature against each row of `others`: the share of equal values."""
    return np.count_nonzero(others == sig, axis=1) / float(sig.shape[-1])


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


def _sid(index: np.ndarray, i: int) -> str:
    return bytes(index["id"][i]).ljust(12, b"\0").hex()


def _exact_units(index: np.ndarray) -> tuple[np.ndarray, dict[int, list[int]]]:
    """unit[i]: the first record (in index order) with record i's exact key; members of units of 2+."""
    n = len(index)
    order = np.argsort(index["exact"], kind="stable")
    keys = index["exact"][order]
    new_key = np.r_[True, keys[1:] != keys[:-1]]
    starts = order[np.flatnonzero(new_key)]
    unit = np.empty(n, dtype=np.int64)
    unit[order] = starts[np.cumsum(new_key) - 1]
    groups: dict[int, list[int]] = {}
    for pos in np.flatnonzero(~new_key):  # a record whose key equals the previous one in key order
        i = int(order[pos])
        groups.setdefault(int(unit[i]), [int(unit[i])]).append(i)
    return unit, groups


def _band_buckets(index: np.ndarray, rows: np.ndarray) -> list[np.ndarray]:
    """Groups (2+ entries of `rows`) that share a key in some band: the LSH candidates."""
    buckets: list[np.ndarray] = []
    bands = index["bands"][rows] if len(rows) else np.zeros((0, 0), np.uint64)
    for j in range(bands.shape[1]):
        col = bands[:, j]
        o = np.argsort(col, kind="stable")
        sc = col[o]
        edges = np.flatnonzero(np.r_[True, sc[1:] != sc[:-1], True])
        for k in np.flatnonzero(np.diff(edges) > 1).tolist():  # runs of 2+ equal keys only
            buckets.append(rows[o[edges[k]:edges[k + 1]]])
    return buckets


def _take_near(index: np.ndarray, buckets: list[np.ndarray], best: dict[int, int], threshold: float,
               sigs: np.ndarray, plan: DedupPlan) -> np.ndarray:
    """rep_of[unit head]: the representative unit that took it (itself for a representative; -1: in no bucket).
    Units in priority order; a unit not yet taken becomes a representative and takes the free units of its
    buckets whose signature has an estimated Jaccard >= threshold with its own."""
    rep_of = np.full(len(index), -1, dtype=np.int64)
    of_unit: dict[int, list[int]] = {}
    for k, b in enumerate(buckets):
        for u in b.tolist():
            of_unit.setdefault(u, []).append(k)

    def rank(u: int) -> tuple[float, str]:
        i = best.get(u, u)
        return -float(index["score"][i]), _sid(index, i)

    for u in sorted(of_unit, key=rank):
        if rep_of[u] >= 0:
            continue
        rep_of[u] = u
        ks = of_unit[u]
        cands = np.unique(np.concatenate([buckets[k] for k in ks])) if len(ks) > 1 else buckets[ks[0]]
        cands = cands[rep_of[cands] < 0]
        if not len(cands):
            continue
        plan.band_hits += len(cands)
        # Any record of a unit has the unit's signature; the unit heads are the rows read.
        near = cands[jaccard(np.asarray(sigs[u]), np.asarray(sigs[cands])) >= threshold]
        rep_of[near] = u
        plan.confirmed += len(near)
    return rep_of


def plan_from_index(index: np.ndarray, threshold: float, sigs: np.ndarray | None = None) -> DedupPlan:
    """Cluster the live records of a feature index (rows in live-record order).

    Exact copies form units; each unit counts once, as its best record (highest score, then smallest
    sample_id). Units whose rows share an LSH band key are candidates, confirmed against a representative
    (`_take_near`; `sigs`: the signatures, default `index["sig"]`; only candidates' rows are read). The kept
    record of a cluster is its representative's best record. Memory: the index plus O(candidates)."""
    n = len(index)
    plan = DedupPlan(records=n, index_bytes=int(index.nbytes))
    if not n:
        return plan
    unit, members = _exact_units(index)
    best = {u: min(ms, key=lambda i: (-float(index["score"][i]), _sid(index, i))) for u, ms in members.items()}
    heads = np.flatnonzero((unit == np.arange(n)) & (index["has_bands"] == 1))
    buckets = _band_buckets(index, heads) if index["bands"].ndim == 2 and index["bands"].shape[1] else []
    rep_of = (_take_near(index, buckets, best, threshold, index["sig"] if sigs is None else sigs, plan)
              if buckets else np.full(n, -1, dtype=np.int64))
    clusters: dict[int, list[int]] = {}
    for v in np.flatnonzero(rep_of >= 0).tolist():
        clusters.setdefault(int(rep_of[v]), []).append(v)
    for u in members:
        if rep_of[u] < 0:
            clusters[u] = [u]
    for rep, units in sorted(clusters.items()):
        records = [i for v in units for i in members.get(v, [v])]
        if len(records) < 2:
            continue
        plan.clusters += 1
        winner = best.get(rep, rep)
        winner_sid = _sid(index, winner)
        for i in records:
            method = "near" if unit[i] != rep or (i == winner and len(units) > 1) else "exact"
            plan.members[i] = (winner_sid, i == winner, method, len(records))
    return plan


def plan_from_file(path: Path, cfg: DedupConfig) -> DedupPlan:
    """`plan_from_index` over an index file written row by row (`features`): the compact fields are read in
    chunks into memory; signatures stay in the file (memory-mapped) and only candidates' rows are read."""
    dtype = feature_dtype(cfg)
    compact = np.dtype([(f, dtype.fields[f][0]) for f in COMPACT_FIELDS])
    n, extra = divmod(path.stat().st_size, dtype.itemsize)
    if extra:  # a torn or foreign file: clustering part of it would keep duplicates silently
        raise RuntimeError(f"dedup index {path} is not a whole number of {dtype.itemsize}-byte rows; rerun the curate")
    index = np.empty(n, dtype=compact)
    with path.open("rb") as fh:
        for start in range(0, n, CHUNK_ROWS):
            rows = np.fromfile(fh, dtype=dtype, count=min(CHUNK_ROWS, n - start))
            for f in COMPACT_FIELDS:
                index[f][start:start + len(rows)] = rows[f]
    sigs = np.memmap(path, dtype=dtype, mode="r", shape=(n,))["sig"] if n and cfg.near else None
    return plan_from_index(index, cfg.threshold, sigs)


def build_plan(samples: Iterable[Sample], cfg: DedupConfig) -> DedupPlan:
    """Index every live record, then cluster (see `plan_from_index`)."""
    rows = b"".join(features(s, cfg) for s in samples if s.quality.decision != "rejected")
    return plan_from_index(np.frombuffer(rows, dtype=feature_dtype(cfg)), cfg.threshold)


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


class DedupStage:
    """dedup as a whole-dataset stage of the curate driver: a feature row per live record (binary keys,
    the index file `plan_from_file` reads), the clusters as the plan, and per record its cluster entry."""

    name = "dedup"
    binary_keys = True

    def prepare(self, cfg) -> None:
        if cfg.dedup.enabled:  # import datasketch and set up the permutations once, before the workers fork
            feature_dtype(cfg.dedup)

    def key(self, s: Sample, cfg) -> bytes:
        return features(s, cfg.dedup) if cfg.dedup.enabled else b""

    def plan(self, keys: Path, cfg) -> DedupPlan:
        return plan_from_file(keys, cfg.dedup) if cfg.dedup.enabled else DedupPlan()

    def entry(self, plan: DedupPlan, index: int, key: object) -> tuple[str, bool, str, int] | None:
        return plan.members.get(index)

    def apply(self, s: Sample, entry: tuple[str, bool, str, int], cfg) -> Sample:
        return apply_member(s, entry)

    def stats(self, plan: DedupPlan) -> dict:
        return {"clusters": plan.clusters, "records_in_clusters": len(plan.members),
                "near_candidates": plan.band_hits, "near_confirmed": plan.confirmed}

    def metrics(self, plan: DedupPlan) -> dict:
        return {"dedup_index_bytes": plan.index_bytes, "dedup_index_rows": plan.records}


__all__ = [
    "DedupPlan",
    "DedupStage",
    "apply_plan",
    "build_plan",
    "exact_key",
    "feature_dtype",
    "features",
    "jaccard",
    "plan_from_file",
    "plan_from_index",
    "shingles",
]
