"""Captions for scenes, and what each caption claims, so training knows every true pair.

:func:`describe_scene` writes the varied natural captions people type ("red",
"a small blue square on the left", "two purple crosses") together with their
meaning (:class:`Caption`); :func:`caption_matches` tells whether a caption
fits a scene.  :func:`canonical_caption` is the one deterministic caption that
evaluation retrieves by.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from demo.scenes import COLOURS, SHAPES, SIZES, Scene, SceneObject

PLURALS: dict[str, str] = {
    "circle": "circles",
    "square": "squares",
    "triangle": "triangles",
    "star": "stars",
    "cross": "crosses",
    "diamond": "diamonds",
}
POSITION_PHRASES: dict[str, tuple[str, ...]] = {
    "left": ("on the left",),
    "right": ("on the right",),
    "top": ("at the top",),
    "bottom": ("at the bottom",),
    "center": ("in the center", "in the middle"),
}
CAPTION_PREFIXES: tuple[str, ...] = (
    "a photo of ",
    "an image of ",
    "a picture of ",
    "a drawing of ",
    "a rendering of ",
)
GENERIC_NOUNS: tuple[str, ...] = ("shape", "object", "thing")


@dataclass(frozen=True)
class Mention:
    """What a caption says about one object; ``None`` means "not mentioned"."""

    shape: str | None = None
    colour: str | None = None
    size: str | None = None
    position: str | None = None

    def fits(self, obj: SceneObject) -> bool:
        """True when every attribute the caption states holds for ``obj``."""
        return all(
            said is None or said == actual
            for said, actual in (
                (self.shape, obj.shape),
                (self.colour, obj.colour),
                (self.size, obj.size),
                (self.position, obj.position),
            )
        )


@dataclass(frozen=True)
class Caption:
    """A caption's text and its meaning, so training can tell which scenes it fits.

    ``exact_count`` is set when the caption fixes how many objects there are
    ("two stars", "a circle and a square"); a caption about one object
    ("a red circle") also fits a two-object scene that contains one.
    """

    text: str
    mentions: tuple[Mention, ...] = field(default_factory=tuple)
    exact_count: bool = False


def _article(next_word: str) -> str:
    return "an" if next_word[0] in "aeiou" else "a"


def _noun_phrase(mention: Mention, rng: random.Random) -> str:
    """Noun phrase such as "a large red circle", "an orange shape" or "a small star"."""
    words = [w for w in (mention.size, mention.colour) if w is not None]
    words.append(mention.shape or rng.choice(GENERIC_NOUNS))
    return f"{_article(words[0])} {' '.join(words)}"


def _position_phrase(position: str, rng: random.Random) -> str:
    return rng.choice(POSITION_PHRASES[position])


def _pick_attributes(obj: SceneObject, rng: random.Random, *, alone: bool) -> Mention:
    """Choose which attributes a caption mentions; most name shape and colour."""
    patterns: list[tuple[tuple[str, ...], float]] = [
        (("size", "colour", "shape"), 3.0),
        (("colour", "shape"), 3.0),
        (("size", "shape"), 0.8),
        (("shape",), 1.2),
        (("colour",), 0.8 if alone else 0.2),
        (("size", "colour"), 0.4),
    ]
    names, weights = zip(*patterns, strict=True)
    chosen = rng.choices(names, weights=weights)[0]
    values = {name: getattr(obj, name) for name in chosen}
    return Mention(**values)


def _single_caption(obj: SceneObject, rng: random.Random) -> Caption:
    """Caption for one object, from bare words ("red") to full phrases."""
    mention = _pick_attributes(obj, rng, alone=True)
    bare = [w for w in (mention.size, mention.colour, mention.shape) if w is not None]
    roll = rng.random()
    if len(bare) == 1 and mention.size is None and roll < 0.35:
        return Caption(bare[0], (mention,))
    if mention.colour is not None and mention.shape is not None and roll < 0.08:
        text = f"{_article(mention.shape)} {mention.shape} that is {mention.colour}"
        return Caption(text, (mention,))
    if mention.colour is not None and mention.shape is None and roll < 0.2:
        return Caption(f"something {mention.colour}", (mention,))
    text = _noun_phrase(mention, rng)
    if rng.random() < 0.3:
        mention = Mention(mention.shape, mention.colour, mention.size, obj.position)
        text = f"{text} {_position_phrase(obj.position, rng)}"
    return Caption(_decorate(text, rng), (mention,))


def _decorate(text: str, rng: random.Random) -> str:
    """Sometimes add "a photo of" style prefixes or a full stop, as people write."""
    if rng.random() < 0.25:
        text = rng.choice(CAPTION_PREFIXES) + text
    if rng.random() < 0.2:
        text += "."
    return text


def _pair_caption(scene: Scene, rng: random.Random) -> Caption:
    """Caption for a two-object scene: "two purple crosses", "a red circle and ..."."""
    first, second = scene.objects
    if first.shape == second.shape and rng.random() < 0.7:
        same_colour = first.colour == second.colour
        colour = first.colour if same_colour and rng.random() < 0.8 else None
        mention = Mention(shape=first.shape, colour=colour)
        text = " ".join(w for w in ("two", colour, PLURALS[first.shape]) if w)
        return Caption(_decorate(text, rng), (mention, mention), exact_count=True)
    if first.colour == second.colour and rng.random() < 0.3:
        mention = Mention(colour=first.colour)
        text = f"two {first.colour} {rng.choice(('shapes', 'objects'))}"
        return Caption(_decorate(text, rng), (mention, mention), exact_count=True)
    if rng.random() < 0.12:
        return _single_caption(rng.choice(scene.objects), rng)
    mentions = [_pick_attributes(obj, rng, alone=False) for obj in scene.objects]
    with_positions = rng.random() < 0.3
    phrases = []
    for index, (mention, obj) in enumerate(zip(mentions, scene.objects, strict=True)):
        phrase = _noun_phrase(mention, rng)
        if with_positions:
            mentions[index] = Mention(mention.shape, mention.colour, mention.size, obj.position)
            phrase = f"{phrase} {_position_phrase(obj.position, rng)}"
        phrases.append(phrase)
    joiner = " and " if with_positions or rng.random() < 0.75 else " next to "
    return Caption(_decorate(joiner.join(phrases), rng), tuple(mentions), exact_count=True)


def describe_scene(scene: Scene, rng: random.Random) -> Caption:
    """A varied natural caption together with what it claims (see :class:`Caption`)."""
    if len(scene.objects) == 1:
        return _single_caption(scene.objects[0], rng)
    return _pair_caption(scene, rng)


def caption_scene(scene: Scene, rng: random.Random) -> str:
    """A varied natural caption: "a small blue square on the left", "red", ..."""
    return describe_scene(scene, rng).text


def canonical_caption(scene: Scene) -> str:
    """The one deterministic caption: "a large red circle" (and "... and a ...")."""
    phrases = [f"{_article(obj.size)} {obj.size} {obj.colour} {obj.shape}" for obj in scene.objects]
    return " and ".join(phrases)


def caption_matches(caption: Caption, scene: Scene) -> bool:
    """Does ``caption`` truthfully describe ``scene``?  Used to find every true pair."""
    objects = scene.objects
    mentions = caption.mentions
    if caption.exact_count and len(mentions) != len(objects):
        return False
    if len(mentions) == 1:
        return any(mentions[0].fits(obj) for obj in objects)
    if len(mentions) == 2 and len(objects) == 2:
        a, b = mentions
        return (a.fits(objects[0]) and b.fits(objects[1])) or (
            a.fits(objects[1]) and b.fits(objects[0])
        )
    return False


def vocabulary_words() -> set[str]:
    """Every word a caption can use: what a reduced tokenizer must keep whole."""
    words = set(SHAPES) | set(COLOURS) | set(SIZES) | set(PLURALS.values())
    words |= set(GENERIC_NOUNS) | {"a", "an", "and", "next", "to", "two", "that", "is"}
    words |= {"something", "shapes", "objects"}
    for phrases in POSITION_PHRASES.values():
        for phrase in phrases:
            words.update(phrase.split())
    for prefix in CAPTION_PREFIXES:
        words.update(prefix.split())
    return words
