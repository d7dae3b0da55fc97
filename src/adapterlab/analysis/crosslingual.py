"""Zero-shot cross-lingual evaluation: a model trained on English, tested on every language,
and the three averages of He et al. (2021) Table 3: all languages, target (all but English) and
distant (languages outside the Indo-European family)."""

from __future__ import annotations

import statistics
from pathlib import Path

# The family of every XTREME language (Hu et al. 2020), by ISO 639-1 code.
LANGUAGE_FAMILIES: dict[str, str] = {
    "af": "Indo-European",
    "ar": "Afro-Asiatic",
    "bg": "Indo-European",
    "bn": "Indo-European",
    "de": "Indo-European",
    "el": "Indo-European",
    "en": "Indo-European",
    "es": "Indo-European",
    "et": "Uralic",
    "eu": "Basque",
    "fa": "Indo-European",
    "fi": "Uralic",
    "fr": "Indo-European",
    "he": "Afro-Asiatic",
    "hi": "Indo-European",
    "hu": "Uralic",
    "id": "Austronesian",
    "it": "Indo-European",
    "ja": "Japonic",
    "jv": "Austronesian",
    "ka": "Kartvelian",
    "kk": "Turkic",
    "ko": "Koreanic",
    "ml": "Dravidian",
    "mr": "Indo-European",
    "ms": "Austronesian",
    "my": "Sino-Tibetan",
    "nl": "Indo-European",
    "pt": "Indo-European",
    "qu": "Quechuan",
    "ru": "Indo-European",
    "sw": "Niger-Congo",
    "ta": "Dravidian",
    "te": "Dravidian",
    "th": "Kra-Dai",
    "tl": "Austronesian",
    "tr": "Turkic",
    "ur": "Indo-European",
    "vi": "Austroasiatic",
    "yo": "Niger-Congo",
    "zh": "Sino-Tibetan",
    "lt": "Indo-European",
    "pl": "Indo-European",
    "uk": "Indo-European",
    "wo": "Niger-Congo",
    "cy": "Indo-European",
    "gd": "Indo-European",
    "ga": "Indo-European",
    "hy": "Indo-European",
    "sk": "Indo-European",
}
SOURCE_LANGUAGE = "en"


def is_distant(language: str) -> bool:
    if language not in LANGUAGE_FAMILIES:
        raise KeyError(f"language {language!r} is not in the family table")
    return LANGUAGE_FAMILIES[language] != "Indo-European"


def crosslingual_averages(scores: dict[str, float]) -> dict[str, float | None]:
    """{all, target, distant} averages of per-language scores (None where no language counts)."""
    target = {lang: v for lang, v in scores.items() if lang != SOURCE_LANGUAGE}
    distant = {lang: v for lang, v in target.items() if is_distant(lang)}
    mean = lambda values: statistics.mean(values) if values else None  # noqa: E731
    return {
        "all": mean(list(scores.values())),
        "target": mean(list(target.values())),
        "distant": mean(list(distant.values())),
    }


def language_files(pattern: str, languages: list[str]) -> dict[str, Path]:
    """{language: file} from a pattern such as data/xtreme/panx/dev-{lang}.tsv."""
    return {lang: Path(pattern.format(lang=lang)) for lang in languages}
