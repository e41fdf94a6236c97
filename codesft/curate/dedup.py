"""dedup: exact (normalised instruction + code) and near duplicates (MinHash LSH over code shingles).

Two passes so the result does not depend on which duplicate came first: `build_plan` indexes
every live record (memory: the LSH index, ~num_perm*8 bytes + table overhead per record, plus
20 bytes per record for score and id) and unions colliding records into clusters; `apply_plan`
streams the records again, keeps the highest-scoring record of each cluster (ties: smallest
sample_id) and rejects the others with the kept record named.
"""

from __future__ import annotations

import hashlib
import re
from array import array
from dataclasses import dataclass, field
from typing import Iterable, Iterator

from codesft.curate.config import DedupConfig
from codesft.curate.gate import reject
from codesft.schema import Dedup, Sample

_TOKEN = re.compile(r"\w+|[^\w\s]")
_WS = re.compile(r"\s+")


def dedup_text(s: Sample) -> tuple[str, str]:
    code = s.code.solution if s.code and s.code.solution else s.assistant_text()
    return _WS.sub(" ", s.user_text().lower()).strip(), _WS.sub(" ", code).strip()


def exact_key(s: Sample) -> bytes:
    instruction, code = dedup_text(s)
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


def build_plan(samples: Iterable[Sample], cfg: DedupConfig) -> DedupPlan:
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=cfg.threshold, num_perm=cfg.num_perm) if cfg.near else None
    seed_mh = MinHash(num_perm=cfg.num_perm, seed=1)  # permutations are computed once and shared
    exact_first: dict[bytes, int] = {}
    scores = array("d")
    ids = bytearray()
    uf = _UnionFind()
    near_roots: set[int] = set()
    near_edges: list[tuple[int, int]] = []
    n = 0
    for s in samples:
        if s.quality.decision == "rejected":
            continue
        idx = n
        n += 1
        scores.append(s.quality.score)
        ids.extend(bytes.fromhex(s.sample_id.ljust(24, "0")[:24]))
        key = exact_key(s)
        first = exact_first.setdefault(key, idx)
        if first != idx:
            uf.union(first, idx)
            continue  # an exact copy adds nothing to the near index
        if lsh is None:
            continue
        sh = shingles(dedup_text(s)[1], cfg.shingle_size)
        if not sh:
            continue
        mh = MinHash(num_perm=cfg.num_perm, seed=1, permutations=seed_mh.permutations, scheme=seed_mh.scheme)
        mh.update_batch(sh)
        for other in lsh.query(mh):
            uf.union(other, idx)
            near_edges.append((other, idx))
        lsh.insert(idx, mh, check_duplication=False)
    for a, _ in near_edges:
        near_roots.add(uf.find(a))
    clusters: dict[int, list[int]] = {}
    for x in list(uf.parent):
        clusters.setdefault(uf.find(x), []).append(x)
    plan = DedupPlan(records=n)
    for root, members in sorted(clusters.items()):
        if len(members) < 2:
            continue
        plan.clusters += 1

        def sid(i: int) -> str:
            return bytes(ids[i * 12:(i + 1) * 12]).hex()

        winner = min(members, key=lambda i: (-scores[i], sid(i)))
        method = "near" if root in near_roots else "exact"
        for i in members:
            plan.members[i] = (sid(winner), i == winner, method, len(members))
    return plan


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
        cluster, kept, method, size = info
        s = s.model_copy(deep=True)
        s.dedup = Dedup(cluster_id=cluster, kept=kept, method=method, size=size)
        if not kept:
            reject(s, f"{'exact' if method == 'exact' else 'near'}_duplicate: of {cluster}", "dedup")
        yield s


__all__ = ["DedupPlan", "build_plan", "apply_plan", "exact_key", "shingles"]
