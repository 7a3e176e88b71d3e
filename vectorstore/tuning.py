"""How a collection is indexed and searched: one set of knobs for both Qdrant adapters.

Every user's search is filtered by owner and visibility, and filtered search
is where a plain HNSW graph silently loses results, so the defaults follow
Qdrant's multitenancy design: the owner is a tenant index, the graph gets
payload-aware links (`payload_m`), a filter matching fewer vectors than
`full_scan_threshold_kb` is answered by an exact scan of the payload index,
and ACORN widens the graph walk for the filters in between.
`python -m bench.search` measures these choices (bench/results/search.json).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from core.env import env_bool, env_choice, env_float, env_int
from vectorstore.filters import Condition, Filter, HasId

# Fields whose values get graph links of their own (`payload_m`): those a
# search filters on by themselves. Links cost about one more graph build over
# the points a field covers, so the access fields every search carries go
# without (visibility is nearly always private, hidden nearly always 0, and
# the owner's links already serve the access filter), as do rare filters.
GRAPH_LINKED: frozenset[str] = frozenset({"owner", "tags", "uploaded_at", "taken_at"})


@dataclass(frozen=True)
class IndexTuning:
    hnsw_m: int = 16
    hnsw_ef_construct: int = 128
    search_ef: int = 128
    payload_m: int = 16
    # Below this many KB of matching vectors a filtered search scans instead
    # of walking the graph (40,000 KB: about 20,000 vectors of 512 floats).
    # Chosen at 100k, when every filtered walk used ACORN: an owner holding
    # 10% searched in 2.4 ms by scan and 9.3 ms through the graph.
    full_scan_threshold_kb: int = 40_000
    # Largest segment the optimizer merges up to. A search walks each segment's
    # graph and applies the scan threshold per segment, so as imports add
    # segments, fewer and larger ones answer faster. The engine's default
    # (256 MB per core) would hold a million 512-d vectors in four or more.
    max_segment_kb: int = 4_000_000
    # "int8": scalar quantization kept in RAM, the original vectors on disk
    # (memory-mapped) for rescoring the oversampled candidates.
    quantization: str = "none"
    oversampling: float = 2.0
    # ACORN widens the graph walk for filters the links do not serve
    # (`acorn_wanted`); for those they do it only costs: at 1M an owner
    # holding 10% took 178 ms at p99 with it and 4 ms without.
    acorn: bool = True
    acorn_max_selectivity: float = 0.4

    def __post_init__(self) -> None:
        if self.quantization not in ("none", "int8"):
            raise ValueError(f"quantization is none or int8, not {self.quantization!r}")

    @property
    def quantized(self) -> bool:
        return self.quantization == "int8"

    def acorn_for(self, flt: Filter | None) -> bool:
        """Whether a search with `flt` walks the graph with ACORN (see `acorn_wanted`)."""
        return flt is not None and bool(flt) and self.acorn and acorn_wanted(flt)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> IndexTuning:
        """`VECTOR_*` variables over the defaults (documented in the README).

        Raises `ConfigError` naming the variable for a value that is not of its
        type or out of range (`VECTOR_ACORN=flase` is an error, not "on").
        """
        d = cls()
        return cls(
            hnsw_m=env_int(env, "VECTOR_HNSW_M", d.hnsw_m),
            hnsw_ef_construct=env_int(
                env, "VECTOR_HNSW_EF_CONSTRUCT", d.hnsw_ef_construct, minimum=1
            ),
            search_ef=env_int(env, "VECTOR_SEARCH_EF", d.search_ef, minimum=1),
            payload_m=env_int(env, "VECTOR_PAYLOAD_M", d.payload_m),
            full_scan_threshold_kb=env_int(
                env, "VECTOR_FULL_SCAN_THRESHOLD_KB", d.full_scan_threshold_kb
            ),
            max_segment_kb=env_int(env, "VECTOR_MAX_SEGMENT_KB", d.max_segment_kb, minimum=1),
            quantization=env_choice(env, "VECTOR_QUANTIZATION", d.quantization, ("none", "int8")),
            # A factor below 1 would rescore fewer candidates than the search returns.
            oversampling=env_float(env, "VECTOR_OVERSAMPLING", d.oversampling, minimum=1.0),
            acorn=env_bool(env, "VECTOR_ACORN", d.acorn),
        )


def acorn_wanted(flt: Filter) -> bool:
    """Whether a filtered graph search needs ACORN: some condition every match must
    meet is on a field without graph links (`GRAPH_LINKED`).

    The access filter (the owner's points, or public ones) and date ranges are
    served by the links; a filter on, say, the format alone is not.  `must_not`
    never counts: it removes few points.
    """

    def unlinked(condition: Condition) -> bool:
        if isinstance(condition, Filter):
            return any(unlinked(c) for c in condition.must) or (
                bool(condition.should) and all(unlinked(c) for c in condition.should)
            )
        if isinstance(condition, HasId):
            return False
        return condition.key not in GRAPH_LINKED

    return unlinked(flt)
