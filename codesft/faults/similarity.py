"""How similar a variant is to the correct code: normalised edit similarity, or embedding cosine."""

from __future__ import annotations

from pathlib import Path

from rapidfuzz.distance import Levenshtein


def edit_similarity(a: str, b: str) -> float:
    """1 - Levenshtein distance / max length, in [0, 1]; 1 means identical."""
    return float(Levenshtein.normalized_similarity(a, b))


class EmbeddingSimilarity:
    """Cosine similarity of a sentence-transformers code embedding model loaded from a local directory.

    sentence-transformers is optional, so it is imported only when an embedder is asked for.
    """

    def __init__(self, model_dir: str | Path):
        path = Path(model_dir)
        if not path.is_dir():
            raise FileNotFoundError(f"embedder directory not found: {path}")
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise RuntimeError("--embedder needs the optional package sentence-transformers "
                               "(pip install sentence-transformers)") from exc
        self.name = path.name
        self.model = SentenceTransformer(str(path), device="cpu")

    @property
    def method(self) -> str:
        return f"embedding:{self.name}"

    def scores(self, reference: str, candidates: list[str]) -> list[float]:
        vecs = self.model.encode([reference, *candidates], normalize_embeddings=True, convert_to_numpy=True)
        ref = vecs[0]
        # Normalised vectors: the dot product is the cosine; clamp to the schema's [0, 1].
        return [float(min(1.0, max(0.0, (v * ref).sum()))) for v in vecs[1:]]
