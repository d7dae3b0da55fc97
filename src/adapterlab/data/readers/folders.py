"""Data that is a folder: one subfolder per class (BBC News), or SemEval-2019 Task 4's
by-article XML (hyperpartisan)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ElementTree
from pathlib import Path

from adapterlab.data.example import Example
from adapterlab.data.readers.base import ReadOptions, shorten
from adapterlab.data.readers.text import read_text_file
from adapterlab.errors import AdapterlabError


def read_class_folders(path: Path, options: ReadOptions) -> list[Example]:
    """A folder with one subfolder per class, one text file per example (e.g. BBC News)."""
    encoding = options.encoding
    classes = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))
    if not classes:
        files = sorted(p.name for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
        # a data folder of split files (train.tsv, dev.tsv, ...) where one file is expected: name them
        hint = (
            f"; it holds files ({', '.join(files[:4])}{', ...' if len(files) > 4 else ''}): give one of them"
            if files
            else ""
        )
        raise AdapterlabError(
            f"{path}: no class subfolders; expected one file, or a folder with one subfolder per label holding text files{hint}"
        )
    examples = []
    for folder in classes:
        for file in sorted(folder.iterdir()):
            if file.is_file() and not file.name.startswith("."):
                examples.append(
                    Example(text=read_text_file(file, encoding).strip(), label=folder.name, source=str(file))
                )
    return examples


def read_folder(path: Path, encoding: str = "utf-8") -> list[Example]:
    """read_class_folders for callers that have only an encoding."""
    return read_class_folders(path, ReadOptions(encoding=encoding))


def read_hyperpartisan(path: Path, options: ReadOptions) -> list[Example]:
    """SemEval-2019 Task 4 by-article XML: the articles file and its ground-truth file, found in
    one folder; with `options.split`, only the ids that hp-splits.json in that folder gives for it."""
    split, encoding = options.split, options.encoding
    folder = path if path.is_dir() else path.parent
    articles = _one(folder, "articles-*.xml")
    truth = _one(folder, "ground-truth-*.xml")
    labels = {a.get("id"): a.get("hyperpartisan") for a in _parse_xml(truth, encoding).iter("article")}
    keep = None
    if split is not None:
        splits_file = folder / "hp-splits.json"
        try:
            splits = json.loads(read_text_file(splits_file, encoding))
        except json.JSONDecodeError as err:
            raise AdapterlabError(f"{splits_file}:{err.lineno}: not valid JSON ({err.msg})") from None
        if not isinstance(splits, dict) or not all(isinstance(ids, list) for ids in splits.values()):
            raise AdapterlabError(f"{splits_file}: expected a JSON object of split name -> list of article ids")
        if split not in splits:
            raise AdapterlabError(f"{splits_file}: no split {split!r}; it has {', '.join(splits)}")
        keep = {_article_number(i, splits_file) for i in splits[split]}
    examples = []
    for article in _parse_xml(articles, encoding).iter("article"):
        article_id = article.get("id")
        if keep is not None and _article_number(article_id, articles) not in keep:
            continue
        if article_id not in labels:
            raise AdapterlabError(f"{truth}: no label for article id {article_id}")
        text = " ".join(" ".join(article.itertext()).split())
        title = article.get("title") or ""
        examples.append(
            Example(
                text=f"{title}. {text}" if title else text,
                label=labels[article_id],
                source=f"{articles}:id={article_id}",
            )
        )
    return examples


def _article_number(article_id: object, where: Path) -> int:
    if isinstance(article_id, bool) or not isinstance(article_id, (int, str)) or not str(article_id).strip().isdigit():
        raise AdapterlabError(
            f"{where}: article id {shorten(article_id)} is not a number; ids are digits such as 0000005"
        )
    return int(article_id)


def _one(folder: Path, pattern: str) -> Path:
    found = sorted(folder.glob(pattern))
    if len(found) != 1:
        raise AdapterlabError(f"{folder}: expected exactly one file matching {pattern}, found {len(found)}")
    return found[0]


def _parse_xml(path: Path, encoding: str) -> ElementTree.Element:
    try:
        return ElementTree.fromstring(read_text_file(path, encoding))
    except ElementTree.ParseError as err:
        raise AdapterlabError(f"{path}:{err.position[0]}: not well-formed XML ({err})") from None
