"""Names for runs created without one: adjective-noun-number, as MLflow's."""

from __future__ import annotations

import random

_ADJECTIVES = [
    "amber",
    "bold",
    "brave",
    "calm",
    "clever",
    "crisp",
    "eager",
    "fair",
    "gentle",
    "glad",
    "keen",
    "lucid",
    "merry",
    "nimble",
    "quiet",
    "rapid",
    "serene",
    "sharp",
    "steady",
    "swift",
    "tidy",
    "vivid",
    "warm",
    "wise",
]
_NOUNS = [
    "badger",
    "bison",
    "crane",
    "dolphin",
    "eagle",
    "falcon",
    "fox",
    "gecko",
    "heron",
    "ibis",
    "jaguar",
    "koala",
    "lemur",
    "lynx",
    "mole",
    "newt",
    "otter",
    "owl",
    "panda",
    "quail",
    "raven",
    "seal",
    "tiger",
    "wolf",
    "yak",
]


def random_run_name() -> str:
    return f"{random.choice(_ADJECTIVES)}-{random.choice(_NOUNS)}-{random.randint(1, 999)}"
