"""How a text query is matched (`search.services`); settings read the default from here too."""

from __future__ import annotations

# "hybrid": CLIP and the words fused; "semantic": CLIP alone; "text": the words alone.
SEARCH_MODES = ("hybrid", "semantic", "text")
