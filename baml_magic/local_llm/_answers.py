"""Answers for the offline model: a deterministic value of the schema a prompt asks for, in sentences
on the prompt's topic, so typed demos and tests run without a real model. A prompt without an
output format gets plain prose.
"""

from __future__ import annotations

import json
import random
import re
from typing import Any

from baml_magic.local_llm._notation import Definitions, SchemaError, Type, definitions, find_schema

# -- values ---------------------------------------------------------------------------------------

_SENTENCES = (
    "{Topic} is where this begins, on an ordinary morning that turns out to matter.",
    "Everyone who knew {topic} remembers the quiet way the day unfolded.",
    "At first nothing about {topic} seemed unusual, but the details told a different story.",
    "By noon the questions about {topic} had simple, careful answers.",
    "The notes on {topic} were short, clear and written in a steady hand.",
    "A small change in {topic} made the rest of the plan fall into place.",
    "People still talk about {topic} when the evenings grow long.",
    "What mattered most about {topic} was patience, and a little luck.",
    "The first draft about {topic} was rough, so it was rewritten twice.",
    "In the end {topic} was exactly what it needed to be.",
    "There was a lesson in {topic}: look closely before deciding.",
    "Later, the record of {topic} was filed where anyone could find it.",
)
_FILLER = (
    "The light changed slowly over the harbour.",
    "Nobody hurried, and nothing was lost.",
    "It was a good day for careful work.",
    "The answer was simpler than expected.",
    "Each step followed naturally from the last.",
    "Someone wrote it all down before dark.",
)
_NAMES = ("Ada Lovelace", "Grace Hopper", "Alan Turing", "Katherine Johnson", "Edsger Dijkstra", "Barbara Liskov")
_SHORT_KEYS = re.compile(r"(title|name|label|category|kind|type|id|tag|city|country|author|unit|subject|"
                         r"heading|role|status|merchant|vendor|company|brand|language|topic|keyword|code)", re.I)
_TOPIC = re.compile(r"\b(?:about|regarding|on the subject of|describing)\s+([^.\n?!:;{}\"]{3,80})", re.I)
_STOP = {"the", "a", "an", "and", "or", "of", "to", "in", "for", "with", "this", "that", "these", "is", "are",
         "be", "please", "answer", "json", "using", "schema", "return", "output", "format", "following", "given"}


_LABELLED = re.compile(r"\b(?:task|input|text|question|query|review|document|message|topic|subject|request)\s*:"
                       r"\s*([^\n{}\"]{3,80})", re.I)
_INSTRUCTION = re.compile(r"\b(json|schema|format|reply|respond|output|answer)\b", re.I)


def topic_of(prompt: str) -> str:
    """What a prompt is about: the phrase after 'about', else after a label ('Task:', 'Input:'), else the
    first words of its last line that is not an instruction about the answer's format."""
    matches = _TOPIC.findall(prompt) or _LABELLED.findall(prompt)
    if matches:
        return " ".join(matches[-1].split()[:8]).strip(" ,.")
    lines = [line.strip() for line in prompt.splitlines() if re.search(r"[A-Za-z]{3}", line)]
    lines = [line for line in lines if not _INSTRUCTION.search(line)] or lines
    for line in reversed(lines):
        words = [w for w in re.findall(r"[A-Za-z][A-Za-z'\-]*", line) if w.lower() not in _STOP]
        if words:
            return " ".join(words[:5]).lower()
    return "the question"


class Builder:
    """Deterministic values of a parsed type, with text on the prompt's topic."""

    def __init__(self, seed: str, words: int, defs: Definitions, topic: str, text: str = "") -> None:
        self.rng = random.Random(seed)
        self.words = max(1, words)
        self.defs = defs
        self.topic = topic
        self.text = text  # what the prompt says before its format: the input an enum's value is chosen by

    def sentences(self, words: int) -> str:
        out: list[str] = []
        count = 0
        first = True
        while count < words:
            template = self.rng.choice(_SENTENCES if first or self.rng.random() < 0.6 else _FILLER)
            first = False
            sentence = template.format(topic=self.topic, Topic=self.topic[:1].upper() + self.topic[1:])
            out.append(sentence)
            count += len(sentence.split())
        # Exactly ``words`` words, so a model setting like words=60 keeps its length (and its timing).
        text = " ".join(" ".join(out).split()[:words])
        return text if text.endswith(".") else text.rstrip(",;:") + "."

    def short(self, key: str) -> str:
        lowered = key.lower()
        if "email" in lowered:
            return self.rng.choice(_NAMES).split()[0].lower() + "@example.com"
        if "url" in lowered or "link" in lowered or "website" in lowered:
            return "https://example.com/" + re.sub(r"\W+", "-", self.topic.lower()).strip("-")[:40]
        if "date" in lowered or lowered.endswith("_at") or "time" in lowered:
            return f"2024-0{self.rng.randint(1, 9)}-1{self.rng.randint(0, 9)}"
        if "phone" in lowered:
            return f"+1 555 01{self.rng.randint(10, 99)}"
        if lowered in ("name", "author", "full_name", "fullname", "person") or lowered.endswith("_name"):
            return self.rng.choice(_NAMES)
        words = self.topic.split()[:5] or ["the", "answer"]
        if len(words) == 1:
            words = ["the", *words]
        phrase = " ".join(words)
        return phrase[:1].upper() + phrase[1:]

    def string(self, key: str) -> str:
        if _SHORT_KEYS.search(key) or re.search(r"email|url|link|date|phone|_at$", key, re.I):
            return self.short(key)
        return self.sentences(self.words)

    def number(self, kind: str, key: str) -> int | float:
        lowered = key.lower()
        if "year" in lowered:
            return self.rng.randint(1990, 2024)
        if kind == "int":
            return self.rng.randint(1, 99)
        if any(w in lowered for w in ("confidence", "probability", "score", "ratio")):
            return round(self.rng.uniform(0.5, 0.99), 2)
        return round(self.rng.uniform(1, 99), 2)

    def build(self, t: Type, key: str = "", depth: int = 0) -> Any:
        kind = t[0]
        if depth > 24:  # a type that can't end (a required field of its own class)
            return None
        if kind == "string":
            return self.string(key)
        if kind in ("int", "float"):
            return self.number(kind, key)
        if kind == "bool":
            return self.rng.random() < 0.5
        if kind == "null":
            return None
        if kind == "literal":
            return t[1]
        if kind == "enum":
            return self.choose(t[1]) if t[1] else None
        if kind == "named":
            if t[1] in self.defs.enums:
                values = self.defs.enums[t[1]]
                return self.choose(values) if values else None
            target = self.defs.types.get(t[1])
            if target is None:
                return self.string(key)
            return self.build(target, key, depth + 1)
        if kind == "union":
            if depth > 3:  # deep in a recursive type: the simplest member ends the recursion
                simple = [o for o in t[1] if o[0] not in ("named", "list", "map", "object")]
                return self.build((simple or t[1])[0], key, depth + 1)
            options = [o for o in t[1] if o[0] != "null"] or t[1]
            if all(o[0] == "literal" for o in options):  # an inline enum: the value the input supports
                return self.choose([o[1] for o in options])
            return self.build(options[0], key, depth)
        if kind == "list":
            if depth > 3:
                return []
            return [self.build(t[1], key, depth + 1) for _ in range(2 if depth else 3)]
        if kind == "map":
            if depth > 3:
                return {}
            return {str(k): self.build(t[2], key, depth + 1) for k in self.keys(t[1], key)}
        if kind == "object":
            return {name: self.build(ft, name, depth + 1) for name, ft in t[1]}
        if kind in ("image", "audio", "pdf", "video"):
            return None
        raise SchemaError(f"unknown type {t!r}")

    def choose(self, values: list[Any]) -> Any:
        """The value the input's words support best (see ``classify``); drawn among the best when tied."""
        best = classify([str(v) for v in values], self.text)
        return self.rng.choice([v for v in values if str(v) in best])

    def keys(self, t: Type, key: str) -> list[Any]:
        """Two keys of a map's key type: enum values, literals or words."""
        if t[0] == "named" and t[1] in self.defs.enums:
            return self.defs.enums[t[1]][:2]
        if t[0] == "literal":
            return [t[1]]
        if t[0] == "union":
            literals = [o[1] for o in t[1] if o[0] == "literal"]
            if literals:
                return literals[:2]
        base = re.sub(r"\W+", "_", key or "key").strip("_") or "key"
        return [f"{base}_1", f"{base}_2"]


# -- classification: which of an enum's values the input supports ---------------------------------

_POSITIVE = set("""good great love loved lovely excellent delicious friendly happy wonderful amazing best perfect
fast helpful nice tasty recommend pleasant enjoyed enjoy fantastic superb fresh kind clean quick beautiful awesome
glad thanks thank works working fixed satisfied brilliant adore adored stars favorite favourite worth impressed
comfortable sturdy smooth""".split())
_NEGATIVE = set("""bad terrible awful cold rude slow dirty hate hated worst broken late disappointing disappointed
poor bland noisy angry sad wrong fail failed failing never horrible unhelpful stale crash crashes crashed error
bug refund missing lost complaint complain annoying useless expensive overpriced burnt soggy unpleasant""".split())
_LABELS = {"positive": 1, "good": 1, "happy": 1, "praise": 1, "pos": 1, "satisfied": 1, "like": 1,
           "negative": -1, "bad": -1, "sad": -1, "angry": -1, "complaint": -1, "neg": -1, "unsatisfied": -1,
           "dislike": -1, "frustrated": -1}
_WORD = re.compile(r"[a-z]+")


def _words_of(text: str) -> list[str]:
    """Lower-case words, ``CamelCase`` and ``snake_case`` split."""
    return _WORD.findall(re.sub(r"([a-z])([A-Z])", r"\1 \2", text).lower())


def classify(values: list[str], text: str) -> set[str]:
    """The enum values the input's words support best (a small, deterministic heuristic).

    A value scores one for each time its own words appear in the input, and, when its name is a
    sentiment label (POSITIVE, NEGATIVE, GOOD, BAD, ...), the balance of positive and negative words
    of a small lexicon in its direction; a NEUTRAL or MIXED value gains when that balance is zero.
    The values with the best score come back (all of them on no evidence).
    """
    words = _words_of(text)
    balance = sum(w in _POSITIVE for w in words) - sum(w in _NEGATIVE for w in words)
    felt = any(w in _POSITIVE or w in _NEGATIVE for w in words)
    scores = {}
    for value in values:
        own = _words_of(value)
        score = float(sum(words.count(w) for w in own if len(w) > 2))
        direction = next((_LABELS[w] for w in own if w in _LABELS), None)
        if direction is not None:
            score += 3 * direction * balance
        elif {"neutral", "mixed"} & set(own) and balance == 0:
            score += 3 if felt else 1
        scores[value] = score
    top = max(scores.values(), default=0.0)
    return {v for v, s in scores.items() if s == top}


def _decoded(t: Any) -> Type:
    """The notation a client sent (JSON lists) as the reader's tuples."""
    kind = t[0]
    if kind == "object":
        return ("object", [(str(name), _decoded(ft)) for name, ft in t[1]])
    if kind == "union":
        return ("union", [_decoded(o) for o in t[1]])
    if kind == "list":
        return ("list", _decoded(t[1]))
    if kind == "map":
        return ("map", _decoded(t[1]), _decoded(t[2]))
    return tuple(t)


def told(returns: dict[str, Any]) -> tuple[Type, Definitions]:
    """A return type the client told (``_expect``), as a type and its definitions."""
    defs = Definitions(enums={str(k): [str(v) for v in vs] for k, vs in (returns.get("enums") or {}).items()},
                       types={str(k): _decoded(v) for k, v in (returns.get("types") or {}).items()})
    return _decoded(returns["type"]), defs


def answer_for(prompt: str, words: int = 40, received: str = "", seed: str = "",
               returns: dict[str, Any] | None = None) -> str:
    """An answer text for a rendered prompt: a value fitting its output format, else prose.

    ``returns``: the function's return type as the client told it (a prompt that writes its format by
    hand); otherwise the type is read from the output format BAML rendered into the prompt.
    ``received`` says what media came with the prompt; a prose or string answer starts with it.
    ``seed`` changes the values drawn (a client's own answers), not what they are about.
    """
    said = f"(Received {received}.) " if received else ""
    if returns is not None:  # the prompt's own description of its format (an example, a fence) is not its topic
        schema, defs = told(returns)
        example = re.search(r"```|^\s*[{\[]", prompt, re.M)
        found: tuple[Type, int] | None = (schema, example.start() if example else len(prompt))
    else:
        defs = definitions(prompt)
        found = find_schema(prompt, defs)
    format_start = min([found[1]] + [a for a, _ in defs.spans]) if found else len(prompt)
    topic = topic_of(prompt[:format_start])
    builder = Builder(prompt + seed, words, defs, topic, prompt[:format_start])
    if found is None:
        return said + builder.sentences(words)
    schema = found[0]
    value = builder.build(schema)
    if schema[0] == "string":
        return said + str(value)
    if schema[0] == "enum" or (schema[0] == "named" and schema[1] in defs.enums):
        return str(value)
    return json.dumps(value, indent=2)
