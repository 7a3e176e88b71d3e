"""Lexical vectors: Qdrant's own BM25, as qdrant-edge-py ships it, for documents and queries.

Both adapters store the same sparse vectors (term ids and BM25 term-frequency
weights), and both stores apply the inverse document frequency themselves
(`Modifier.IDF`), so the weights stay right as the collection grows. Terms come
from Qdrant's word tokenizer with lowercasing, ASCII folding, the language's
stopwords and its Snowball stemmer: "Invoices" and "invoice" are one term.
"""

from __future__ import annotations

import functools
import re
import threading

import qdrant_edge as qe

from vectorstore.base import SparseVector

# What a page highlights: runs of letters and digits, as the word tokenizer splits them.
_WORD = re.compile(r"\w+", re.UNICODE)

# Documents here are short (a filename, tags, a caption, a sign's words), far
# below BM25's usual 256 tokens: the length norm compares with this instead.
AVERAGE_DOCUMENT_TOKENS = 24.0


class Lexicon:
    """BM25 for one language (a Snowball language name, e.g. "english"). Thread-safe."""

    def __init__(self, language: str = "english") -> None:
        self.language = language
        self._config = qe.Bm25Config(language=language, avg_len=AVERAGE_DOCUMENT_TOKENS)
        self._local = threading.local()

    def _model(self) -> qe.Bm25:
        # One model a thread: the engine's object is not documented as shareable.
        model: qe.Bm25 | None = getattr(self._local, "model", None)
        if model is None:
            model = self._local.model = qe.Bm25(self._config)
        return model

    def document(self, text: str) -> SparseVector:
        """A document's vector (empty when it has no terms)."""
        return _sparse(self._model().embed_document(text)) if text.strip() else SparseVector()

    def query(self, text: str) -> SparseVector:
        """A query's vector: each of its terms once, weight 1."""
        return _sparse(self._model().embed_query(text)) if text.strip() else SparseVector()

    def terms(self, text: str) -> frozenset[int]:
        """The term ids of `text` (stopwords dropped, words stemmed)."""
        return frozenset(self.query(text).indices)

    def matches(self, text: str, terms: frozenset[int]) -> list[tuple[int, int]]:
        """(start, end) of each word of `text` whose term is one of `terms`."""
        if not terms:
            return []
        return [
            (word.start(), word.end())
            for word in _WORD.finditer(text)
            if self._word_terms(word.group()) & terms
        ]

    @functools.lru_cache(maxsize=65_536)  # noqa: B019  (one Lexicon a language, for the process)
    def _word_terms(self, word: str) -> frozenset[int]:
        # Snippets ask for every word of a result's text; words repeat across results.
        return self.terms(word)


@functools.cache
def lexicon(language: str) -> Lexicon:
    """The process's `Lexicon` for `language`."""
    return Lexicon(language)


def _sparse(vector: qe.SparseVector) -> SparseVector:
    # BM25 returns one entry per term; sorted ids make equal texts equal vectors.
    pairs = sorted(zip(vector.indices, vector.values, strict=True))
    return SparseVector(
        indices=tuple(int(i) for i, _ in pairs), values=tuple(float(v) for _, v in pairs)
    )
