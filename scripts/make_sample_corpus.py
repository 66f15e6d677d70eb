"""Write attncli/corpus/sample.txt: the sample corpus of `attn heads --corpus sample`.

A few hundred short sentences written for attncli, from templates and word lists so that
each kind a head analysis looks at is covered: pronouns and what they refer to, "bank" as a
river's edge and as a place for money, lists, repeated words, punctuation, and long
sentences. Deterministic: the same file every run.
"""

from __future__ import annotations

import itertools
import random
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "attncli" / "corpus" / "sample.txt"

PEOPLE = ["The teacher", "My neighbour", "The old fisherman", "A young doctor", "The pilot",
          "Our captain", "The baker", "Her brother", "The new student", "A tired nurse"]
ANIMALS = ["The animal", "The dog", "The cat", "The horse", "The fox", "The owl"]
PLACES = ["the street", "the river", "the bridge", "the field", "the road", "the square"]
ADJ = ["tired", "hungry", "afraid", "too slow", "too wide", "busy"]
THINGS = ["apples", "pears", "bread", "cheese", "milk", "onions", "rice", "beans", "salt",
          "tea", "honey", "lemons"]


def pronouns(rng: random.Random) -> list[str]:
    out = []
    for animal, place in itertools.product(ANIMALS, PLACES):
        adj = rng.choice(ADJ[:3])
        out.append(f"{animal} didn't cross {place} because it was {adj}.")
    for person in PEOPLE:
        out.append(f"{person} said that she would call us when she got home.")
        out.append(f"{person} lost his keys, so he asked a friend to help him look.")
        out.append(f"When {person.lower()} arrived, they thanked everyone who had waited.")
    return out


def banks(rng: random.Random) -> list[str]:
    river = ["We sat on the bank of the river and watched the boats.",
             "The river burst its bank after three days of rain.",
             "Ducks nested along the muddy bank below the mill.",
             "He fished from the grassy bank until the sun went down.",
             "The canoe drifted toward the far bank of the stream.",
             "Reeds grew thick on the east bank of the lake.",
             "She climbed the steep bank to reach the path.",
             "Children skipped stones from the river bank.",
             "The flood washed away part of the bank near the bridge.",
             "Willows lean over the bank where the water runs slow."]
    money = ["I put my savings in the bank on Monday.",
             "The bank approved the loan for the new bakery.",
             "She works at a bank in the centre of town.",
             "The bank charged a fee for the late payment.",
             "He went to the bank to open an account.",
             "The bank closed early on the holiday.",
             "Our bank sends a statement every month.",
             "The robbers were caught outside the bank.",
             "A bank manager explained the interest rate.",
             "The bank raised its rates again this year."]
    mixed = ["After the bank refused the loan, he walked down to the river bank to think.",
             "The bank by the river lent money to the farmers on the other bank.",
             "She left the bank with cash and sat on the bank of the canal."]
    return river + money + mixed + [f"{p} waited outside the bank for an hour."
                                    for p in PEOPLE]


def lists(rng: random.Random) -> list[str]:
    out = []
    for _ in range(40):
        items = rng.sample(THINGS, rng.randint(3, 6))
        out.append(f"We bought {', '.join(items[:-1])} and {items[-1]}.")
    for _ in range(15):
        a, b, c = rng.sample(["red", "green", "blue", "yellow", "black", "white"], 3)
        out.append(f"The flags were {a}, {b}, and {c}.")
    return out


def repeats(rng: random.Random) -> list[str]:
    out = []
    for word in ["cat", "dog", "bird", "car", "tree", "book", "song", "ship"]:
        out.append(f"The {word} saw the {word} in the mirror.")
        out.append(f"A {word} is a {word} is a {word}.")
        out.append(f"One {word}, two {word}s, three {word}s, and then no {word} at all.")
    for a, b in itertools.islice(itertools.permutations(["red", "blue", "green", "gold"], 2),
                                 12):
        out.append(f"The {a} box is next to the {b} box, and the {a} lid is on the {b} box.")
    out += ["Again and again and again the bell rang.",
            "Very, very, very slowly the door opened.",
            "No, no, no, that is not what I said."]
    return out


def punctuation(rng: random.Random) -> list[str]:
    base = ["Wait! Did you hear that?", "Well, I think so; maybe not.",
            "\"Stop,\" she said, \"before it's too late.\"", "Yes: the answer is no.",
            "It costs $5 (or so), doesn't it?", "First, mix; second, bake; third, eat.",
            "Who? What? Where? When? Why?", "Oh... I see.", "Hello, world!",
            "The sign read: closed -- come back tomorrow."]
    out = list(base)
    for person, adj in itertools.product(PEOPLE[:6], ADJ[:4]):
        out.append(f"{person}, {adj} and cold, sat down; nobody spoke.")
    return out


def long_ones(rng: random.Random) -> list[str]:
    out = []
    for person, place in itertools.islice(itertools.product(PEOPLE, PLACES), 40):
        item = rng.choice(THINGS)
        out.append(f"{person} walked slowly along {place} in the grey morning light, carrying "
                   f"a small bag of {item} and thinking about the letter that had arrived the "
                   "day before, which nobody in the house had dared to open.")
    return out


def plain(rng: random.Random) -> list[str]:
    verbs = ["reads", "paints", "builds", "fixes", "cleans", "sells"]
    objs = ["the fence", "a boat", "old clocks", "the windows", "fresh bread", "the roof"]
    return [f"{p} {v} {o} on Sundays." for p, v, o in
            itertools.islice(itertools.product(PEOPLE, verbs, objs), 0, 360, 9)]


def main() -> None:
    rng = random.Random(26)
    lines: list[str] = []
    for part in (pronouns, banks, lists, repeats, punctuation, long_ones, plain):
        lines += part(rng)
    seen: set[str] = set()
    unique = [s for s in lines if not (s in seen or seen.add(s))]  # type: ignore[func-returns-value]
    OUT.write_text("\n".join(unique) + "\n", encoding="utf-8")
    print(f"{OUT}: {len(unique)} texts")


if __name__ == "__main__":
    main()
