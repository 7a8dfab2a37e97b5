"""Which of a few European languages a text is in, by its commonest words: enough to tell that an
answer is not in the language the user wrote in. No guess (None) for short texts, other scripts
or a close call: the fact it feeds must not fire on a doubt."""

import re

STOPWORDS = {
    "en": "the and you your is are to of it for my this that with have was not can what do be on",
    "fr": "le la les et vous votre est sont de des un une pour mon ma je ce que avec pas ne il qui sur",
    "de": "der die das und sie ihr ist sind zu von ein eine für mein ich nicht mit auf wie es den dem",
    "es": "el la los las y usted su es de del un una para mi yo que con por lo como",
    "pt": "de do da um uma para meu eu que com não por você seu sua é são",
    "it": "il lo la gli le lei suo è sono di del un una per mio io che con non si come",
    "nl": "de het een en u uw is zijn van voor mijn ik dat met niet op wat hoe",
}
"""Short words English spells the same ("a", "no", "se", "i") are left out: "a window seat" is
not Portuguese."""
WORDS = {language: frozenset(words.split()) for language, words in STOPWORDS.items()}
WORD = re.compile(r"[^\W\d_]+")
MIN_WORDS = 4
MIN_HITS = 2
LEAD = 1.5


def language_of(text: str) -> str | None:
    words = [word.lower() for word in WORD.findall(text)]
    if len(words) < MIN_WORDS:
        return None
    hits = {language: sum(word in common for word in words) for language, common in WORDS.items()}
    best, runner_up = sorted(hits.values(), reverse=True)[:2]
    if best < MIN_HITS or best < LEAD * runner_up:
        return None
    return max(hits, key=hits.__getitem__)


def in_another_language(answer: str, user: str) -> bool:
    answered, asked = language_of(answer), language_of(user)
    return answered is not None and asked is not None and answered != asked
