import inspect
import json
import re

import pytest

from adapterlab.cli import main
from adapterlab.data.example import Example
from adapterlab.data.readers import READERS, ReadOptions, choose_reader, claimed_suffixes, read_examples, read_hub
from adapterlab.data.tasks import TASKS, get_task
from adapterlab.errors import AdapterlabError


def write(path, text, encoding="utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


# ------------------------------------------------------------------------------------- GLUE


def test_glue_cola_no_header(tmp_path):
    path = write(tmp_path / "train.tsv", "gj04\t1\t\tOur friends won't buy this.\ngj04\t0\t*\tThey drank the pub.\n")
    examples = read_examples(path, get_task("cola"))
    assert [(e.text, e.label) for e in examples] == [("Our friends won't buy this.", "1"), ("They drank the pub.", "0")]
    assert examples[1].source.endswith("train.tsv:2")


def test_glue_sst2_header(tmp_path):
    path = write(tmp_path / "dev.tsv", "sentence\tlabel\nit 's a charming journey . \t1\n")
    assert read_examples(path, get_task("sst2"))[0].label == "1"


def test_glue_mrpc_header_with_bom(tmp_path):
    path = write(
        tmp_path / "train.tsv",
        "\ufeffQuality\t#1 ID\t#2 ID\t#1 String\t#2 String\n1\t702876\t702977\tAmrozi accused him .\tReferring to him , Amrozi .\n",
    )
    (example,) = read_examples(path, get_task("mrpc"))
    assert (example.text, example.text_pair, example.label) == (
        "Amrozi accused him .",
        "Referring to him , Amrozi .",
        "1",
    )


def test_glue_stsb_scores_and_rte_names(tmp_path):
    header = "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n"
    stsb = write(
        tmp_path / "stsb.tsv", header + "0\tmain\tMSRvid\t2012\t0001\tnone\tnone\tA plane.\tAn air plane.\t5.000\n"
    )
    assert read_examples(stsb, get_task("stsb"))[0].label == "5.000"
    rte = write(tmp_path / "rte.tsv", "index\tsentence1\tsentence2\tlabel\n0\tA.\tB.\tnot_entailment\n")
    assert read_examples(rte, get_task("rte"))[0].label == "not_entailment"


def test_glue_mnli_json_variants(tmp_path):
    lines = write(
        tmp_path / "dev_matched.jsonl", json.dumps({"premise": "p", "hypothesis": "h", "label": "neutral"}) + "\n"
    )
    obj = write(tmp_path / "train.json", json.dumps({"0": {"text_a": "p", "text_b": "h", "label": "entailment"}}))
    assert read_examples(lines, get_task("mnli"))[0].text_pair == "h"
    assert read_examples(obj, get_task("mnli"))[0].label == "entailment"


def test_glue_qqp_malformed_row_names_file_and_line(tmp_path):
    path = write(tmp_path / "train_subset.tsv", "1\t2\t3\tq one\tq two 0\n4\t5\t6\tq\tq\t1\n")
    with pytest.raises(AdapterlabError, match=r"train_subset.tsv:1: wrong column count: 5 columns, expected 6"):
        read_examples(path, get_task("qqp"))


def test_label_not_in_label_set(tmp_path):
    path = write(tmp_path / "rte.tsv", "index\tsentence1\tsentence2\tlabel\n0\tA.\tB.\tentailment\n1\tA.\tB.\tmaybe\n")
    with pytest.raises(
        AdapterlabError, match=r"rte.tsv:3: label 'maybe' is not in the label set of rte \(entailment, not_entailment\)"
    ):
        read_examples(path, get_task("rte"))


def test_empty_split_and_missing_file(tmp_path):
    path = write(tmp_path / "dev.tsv", "sentence\tlabel\n")
    with pytest.raises(AdapterlabError, match="dev.tsv: no examples"):
        read_examples(path, get_task("sst2"))
    with pytest.raises(AdapterlabError, match="nope.tsv: file not found"):
        read_examples(tmp_path / "nope.tsv", get_task("sst2"))


def test_undecodable_byte_names_line_and_encoding_option(tmp_path):
    path = tmp_path / "train.tsv"
    path.write_bytes(b"sentence\tlabel\ngood\t1\n" + b"costs \xa35\t0\n")
    with pytest.raises(AdapterlabError, match=r"train.tsv:3: undecodable byte 0xa3 at column 7 for encoding utf-8"):
        read_examples(path, get_task("sst2"))
    assert read_examples(path, get_task("sst2"), encoding="latin-1")[1].text == "costs £5"


def test_regression_label_must_be_a_number(tmp_path):
    header = "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n"
    path = write(tmp_path / "stsb.tsv", header + "0\tm\tf\t2012\t1\tn\tn\tA.\tB.\thigh\n")
    with pytest.raises(AdapterlabError, match="label 'high' is not a number"):
        read_examples(path, get_task("stsb"))


# --------------------------------------------------------------------------- JSONL and CSV


def test_jsonl_tae(tmp_path):
    path = write(
        tmp_path / "train.txt",
        json.dumps({"text": "<< EGFR >> inhibitors", "label": "INHIBITOR", "metadata": []}) + "\n\n",
    )
    (example,) = read_examples(path, get_task("chemprot"))
    assert (example.text, example.label) == ("<< EGFR >> inhibitors", "INHIBITOR")


def test_jsonl_bad_json_and_missing_field(tmp_path):
    bad = write(tmp_path / "a.jsonl", '{"text": "x", "label": "a"}\n{"text": \n')
    with pytest.raises(AdapterlabError, match=r"a.jsonl:2: not valid JSON"):
        read_examples(bad, get_task("classification"))
    missing = write(tmp_path / "b.jsonl", '{"sentence": "x", "label": "a"}\n')
    with pytest.raises(AdapterlabError, match=r"b.jsonl:1: missing field 'text'"):
        read_examples(missing, get_task("classification"))


def test_generic_csv_with_column_mapping(tmp_path):
    path = write(tmp_path / "reviews.csv", 'id,review,question,stars\n1,"great, really",why?,5\n2,bad,how?,1\n')
    examples = read_examples(
        path, get_task("pair-classification"), columns={"text": "review", "text_pair": "question", "label": "stars"}
    )
    assert [(e.text, e.text_pair, e.label) for e in examples] == [("great, really", "why?", "5"), ("bad", "how?", "1")]
    with pytest.raises(AdapterlabError, match="header has no column 'rating'"):
        read_examples(path, get_task("classification"), columns={"text": "review", "label": "rating"})


def test_generic_tsv_without_header_and_jsonl_mapping(tmp_path):
    ag = write(tmp_path / "dev.tsv", "Oil prices rise.\tBusiness\nA goal!\tSports\n")
    assert [e.label for e in read_examples(ag, get_task("ag"))] == ["Business", "Sports"]
    mapped = write(tmp_path / "x.jsonl", json.dumps({"body": "hi", "y": 1}) + "\n")
    assert read_examples(mapped, get_task("classification"), columns={"text": "body", "label": "y"})[0].label == "1"


def test_wrong_column_count_in_generic_tsv(tmp_path):
    path = write(tmp_path / "d.tsv", "text\tlabel\nok\t1\ntoo\tmany\tcols\n")
    with pytest.raises(AdapterlabError, match=r"d.tsv:3: wrong column count: 3 columns, expected 2"):
        read_examples(path, get_task("classification"))


# ------------------------------------------------------------------ folders, XML, tokens, XNLI


def test_folder_per_class(tmp_path):
    for label, texts in {"sport": ["goal", "win"], "tech": ["chip"]}.items():
        (tmp_path / label).mkdir()
        for i, text in enumerate(texts):
            write(tmp_path / label / f"{i}.txt", text + "\n")
    examples = read_examples(tmp_path, get_task("bbc"))
    assert sorted((e.label, e.text) for e in examples) == [("sport", "goal"), ("sport", "win"), ("tech", "chip")]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(AdapterlabError, match="no class subfolders"):
        read_examples(empty, get_task("bbc"))
    write(empty / "dev.tsv", "sentence\tlabel\ngood\t1\n")  # a split-file folder where one file was expected
    with pytest.raises(AdapterlabError, match=r"no class subfolders; .* it holds files \(dev.tsv\): give one of them"):
        read_examples(empty, get_task("sst2"))


def _hyperpartisan(folder, splits=None):
    write(
        folder / "articles-training-byarticle-20181122.xml",
        '<?xml version="1.0"?><articles>'
        '<article id="0000000" title="Money power"><p>Banks <a href="x">rule</a>.</p></article>'
        '<article id="0000001" title="Quiet news"><p>Rain.</p></article></articles>',
    )
    write(
        folder / "ground-truth-training-byarticle-20181122.xml",
        '<?xml version="1.0"?><articles>'
        '<article hyperpartisan="true" id="0000000"/><article hyperpartisan="false" id="0000001"/></articles>',
    )
    if splits:
        write(folder / "hp-splits.json", json.dumps(splits))


def test_hyperpartisan_xml_and_splits(tmp_path):
    _hyperpartisan(tmp_path, {"train": [0], "dev": [], "test": [1]})
    spec = get_task("hyperpartisan")
    train = read_examples(tmp_path, spec, split="train")
    assert [(e.text, e.label) for e in train] == [("Money power. Banks rule .", "true")]
    assert read_examples(tmp_path, spec, split="test")[0].label == "false"


def test_hyperpartisan_broken_xml(tmp_path):
    _hyperpartisan(tmp_path)
    write(tmp_path / "articles-training-byarticle-20181122.xml", "<articles><article id='1'>")
    with pytest.raises(AdapterlabError, match="not well-formed XML"):
        read_examples(tmp_path, get_task("hyperpartisan"))


def test_xtreme_token_file(tmp_path):
    path = write(tmp_path / "train-en.tsv", "R.H.\tB-ORG\nSaunders\tI-ORG\n\nParis\tB-LOC\n")
    examples = read_examples(path, get_task("panx"))
    assert [e.tokens for e in examples] == [("R.H.", "Saunders"), ("Paris",)]
    assert examples[1].tags == ("B-LOC",)
    bad = write(tmp_path / "bad.tsv", "Paris\tB-LOC\tX\n")
    with pytest.raises(AdapterlabError, match=r"bad.tsv:1: wrong column count: 3 columns, expected 2"):
        read_examples(bad, get_task("panx"))
    unknown = write(tmp_path / "unknown.tsv", "Paris\tB-CITY\n")
    with pytest.raises(AdapterlabError, match=r"tag 'B-CITY' is not in the label set of panx"):
        read_examples(unknown, get_task("panx"))


def test_conllu_skips_comments_ranges_and_empty_nodes(tmp_path):
    text = (
        "# sent_id = 1\n# text = Don't go\n"
        "1-2\tDon't\t_\t_\t_\t_\t_\t_\t_\t_\n1\tDo\tdo\tAUX\t_\t_\t3\taux\t_\t_\n2\tn't\tnot\tPART\t_\t_\t3\tadvmod\t_\t_\n"
        "3\tgo\tgo\tVERB\t_\t_\t0\troot\t_\t_\n3.1\tx\tx\tX\t_\t_\t_\t_\t_\t_\n\n"
    )
    path = write(tmp_path / "de_gsd-ud-test.conllu", text)
    (example,) = read_examples(path, get_task("udpos"), fmt="conllu")
    assert example.tokens == ("Do", "n't", "go") and example.tags == ("AUX", "PART", "VERB")
    bad = write(tmp_path / "bad.conllu", "1\tDo\tdo\n")
    with pytest.raises(AdapterlabError, match=r"bad.conllu:1: wrong column count: 3 columns, expected 10"):
        read_examples(bad, get_task("udpos"), fmt="conllu")


def test_xnli_both_layouts(tmp_path):
    xtreme = write(tmp_path / "dev-de.tsv", "Er kam.\tEr ging.\tcontradiction\n")
    assert read_examples(xtreme, get_task("xnli"))[0].label == "contradiction"
    xnli1 = write(tmp_path / "xnli.dev.tsv", "language\tgold_label\tsentence1\tsentence2\nde\tneutral\tA.\tB.\n")
    assert read_examples(xnli1, get_task("xnli"))[0].text_pair == "B."


# ------------------------------------------------------------------------- HF datasets path


def test_hub_path_through_datasets_local_loaders(tmp_path):
    pytest.importorskip("datasets")
    csv_path = write(
        tmp_path / "train.csv", "sentence1,sentence2,label\nA man.,A person.,entailment\nA cat.,A dog.,not_entailment\n"
    )
    examples = read_hub("csv", "train", data_files={"train": str(csv_path)})
    assert [(e.text, e.text_pair, e.label) for e in examples] == [
        ("A man.", "A person.", "entailment"),
        ("A cat.", "A dog.", "not_entailment"),
    ]
    json_path = write(tmp_path / "train.jsonl", json.dumps({"body": "hello", "y": "a"}) + "\n")
    assert (
        read_hub("json", "train", columns={"text": "body", "label": "y"}, data_files={"train": str(json_path)})[0].text
        == "hello"
    )
    with pytest.raises(AdapterlabError, match="no column 'nope'"):
        read_hub("json", "train", columns={"text": "nope"}, data_files={"train": str(json_path)})


# ------------------------------------------------- real inputs: long fields, quoting, line ends


def one_line_error(call, *args, **kwargs) -> str:
    """The message of the AdapterlabError that call(*args) raises, checked to be one line."""
    with pytest.raises(AdapterlabError) as info:
        call(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message and len(message) < 400, message[:400]
    return message


def test_a_200kb_field_reads_in_every_delimited_reader(tmp_path):
    long = "word " * 40_000  # 200,000 characters: over csv's default field limit of 131,072
    glue = write(tmp_path / "glue.tsv", f"sentence\tlabel\n{long}\t1\n")
    assert read_examples(glue, get_task("sst2"))[0].text == long
    for name, text in (("big.csv", f'text,label\n"{long}",pos\n'), ("big.tsv", f"text\tlabel\n{long}\tpos\n")):
        (example,) = read_examples(write(tmp_path / name, text), get_task("classification"))
        assert (example.text, example.label) == (long, "pos")
    xnli = write(tmp_path / "dev-de.tsv", f"{long}\tEr ging.\tneutral\n")
    assert read_examples(xnli, get_task("xnli"))[0].text == long


def test_a_1mb_line_without_a_tab_is_one_line_naming_file_and_line(tmp_path):
    line = "x" * 1_000_000 + "\n"
    glue = write(tmp_path / "train.tsv", line)
    assert (
        one_line_error(read_examples, glue, get_task("sst2")) == f"{glue}:1: wrong column count: 1 columns, expected 2"
    )
    generic = write(tmp_path / "generic.tsv", line)
    assert one_line_error(read_examples, generic, get_task("classification")).startswith(
        f"{generic}:1: 1 column(s) (tab-separated), but label is read from column 1"
    )
    xnli = write(tmp_path / "dev-de.tsv", "Er kam.\tEr ging.\tneutral\n" + line)
    assert (
        one_line_error(read_examples, xnli, get_task("xnli")) == f"{xnli}:2: wrong column count: 1 columns, expected 3"
    )
    csv_file = write(tmp_path / "big.csv", "text,label\n" + line)
    assert (
        one_line_error(read_examples, csv_file, get_task("classification"))
        == f"{csv_file}:2: wrong column count: 1 columns, expected 2"
    )


def test_csv_quoted_field_with_a_line_break_is_one_example(tmp_path):
    path = write(tmp_path / "reviews.csv", 'text,label\n"Great film.\nWould watch ""again"", twice.",pos\nDull.,neg\n')
    examples = read_examples(path, get_task("classification"))
    assert [(e.text, e.label) for e in examples] == [
        ('Great film.\nWould watch "again", twice.', "pos"),
        ("Dull.", "neg"),
    ]
    assert [e.source for e in examples] == [f"{path}:2", f"{path}:4"]  # the line each record starts on


def test_csv_with_crlf_and_bom(tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_bytes(b'\xef\xbb\xbftext,label\r\n"two\r\nlines",pos\r\n\r\nplain,neg\r\n')
    examples = read_examples(path, get_task("classification"))
    assert [(e.text, e.label) for e in examples] == [("two\r\nlines", "pos"), ("plain", "neg")]  # quoted text verbatim
    assert examples[1].source == f"{path}:5"


def test_csv_errors_name_file_and_line(tmp_path):
    unbalanced = write(tmp_path / "a.csv", 'text,label\n"never closed,pos\nok,neg\n')
    assert one_line_error(read_examples, unbalanced, get_task("classification")) == (
        f"{unbalanced}:2: wrong column count: 1 columns, expected 2; a quoted field there holds a line break: is a quote unbalanced?"
    )
    bad_byte = tmp_path / "b.csv"
    bad_byte.write_bytes(b'text,label\n"multi\nline",pos\ncosts \xa35,neg\n')
    assert one_line_error(read_examples, bad_byte, get_task("classification")).startswith(
        f"{bad_byte}:4: undecodable byte 0xa3 at column 7 for encoding utf-8; pass --encoding"
    )
    assert one_line_error(read_examples, bad_byte, get_task("classification"), encoding="utf-9") == (
        "encoding 'utf-9' is not known; pass a Python codec name such as utf-8 or latin-1"
    )


def test_tsv_quotes_are_text(tmp_path):
    glue = write(tmp_path / "train.tsv", 'sentence\tlabel\n"the film \'s " unbalanced\t1\n"quoted"\t0\n')
    assert [e.text for e in read_examples(glue, get_task("sst2"))] == ['"the film \'s " unbalanced', '"quoted"']
    generic = write(tmp_path / "d.tsv", 'text\tlabel\n"a, b\tpos\n')
    assert read_examples(generic, get_task("classification"))[0].text == '"a, b'
    xnli = write(tmp_path / "dev-de.tsv", '"Er kam.\tEr "ging".\tneutral\n')
    assert read_examples(xnli, get_task("xnli"))[0].text_pair == 'Er "ging".'


def test_delimiter_follows_the_format_then_the_extension(tmp_path):
    as_csv = write(tmp_path / "data.txt", 'text,label\n"a\tb",pos\n')
    assert read_examples(as_csv, get_task("classification"), fmt="csv")[0].text == "a\tb"
    imdb = write(
        tmp_path / "IMDB Dataset.csv", 'review,sentiment\n"Loved it,\nreally.",positive\n'
    )  # the imdb task's default reader is tsv
    assert (
        read_examples(imdb, get_task("imdb"), columns={"text": "review", "label": "sentiment"})[0].text
        == "Loved it,\nreally."
    )


def test_glue_test_files_have_no_label_column(tmp_path):
    sst2 = write(tmp_path / "test.tsv", "index\tsentence\n0\tuneasy mishmash of styles .\n")
    assert one_line_error(read_examples, sst2, get_task("sst2")) == (
        f"{sst2}:1: no label column 'label' (columns are 'index, sentence'); GLUE's test files are unlabeled: train and evaluate on train.tsv and dev.tsv"
    )
    mnli = write(
        tmp_path / "test_matched.tsv", "index\tpromptID\tpairID\tgenre\tsentence1\tsentence2\n0\t1\t2\tfic\tA.\tB.\n"
    )
    assert one_line_error(read_examples, mnli, get_task("mnli")).startswith(f"{mnli}:1: no label column 'gold_label'")
    no_pair = write(tmp_path / "rte.tsv", "index\tsentence1\tlabel\n0\tA.\tentailment\n")
    assert one_line_error(read_examples, no_pair, get_task("rte")).startswith(
        f"{no_pair}:1: header has no column 'sentence2' for GLUE rte"
    )


def test_json_text_must_be_a_string_and_splits_file_must_list_ids(tmp_path):
    path = write(tmp_path / "a.jsonl", json.dumps({"text": ["a", "list"], "label": "x"}) + "\n")
    assert (
        one_line_error(read_examples, path, get_task("classification"))
        == f"{path}:1: text is a list (['a', 'list']); expected a string"
    )
    _hyperpartisan(tmp_path, {"train": ["zero"]})
    assert one_line_error(read_examples, tmp_path, get_task("hyperpartisan"), split="train").startswith(
        f"{tmp_path / 'hp-splits.json'}: article id 'zero' is not a number"
    )
    write(tmp_path / "hp-splits.json", json.dumps(["train"]))
    assert one_line_error(read_examples, tmp_path, get_task("hyperpartisan"), split="train").startswith(
        f"{tmp_path / 'hp-splits.json'}: expected a JSON object"
    )


# ------------------------------------------------------------------------- the reader registry


@pytest.mark.parametrize(
    "name, task, expected",
    [
        ("a.csv", "classification", "csv"),
        ("a.CSV", "classification", "csv"),
        ("a.tsv", "classification", "tsv"),
        ("a.jsonl", "classification", "jsonl"),
        ("a.json", "classification", "jsonl"),
        ("a.txt", "classification", "jsonl"),
        ("a.conllu", "token", "conllu"),
        ("a.dat", "classification", "tsv"),
        ("a.jsonl", "bbc", "jsonl"),
    ],
)
def test_auto_chooses_a_file_reader_by_its_declared_suffix(tmp_path, name, task, expected):
    path = write(tmp_path / name, "")
    assert choose_reader(path, get_task(task)).name == expected
    assert path.suffix.lower() in READERS[expected].suffixes or expected == "tsv"  # tsv: also the fallback


def test_auto_chooses_the_folder_reader_for_a_folder_unless_the_task_reads_folders(tmp_path):
    assert choose_reader(tmp_path, get_task("classification")).name == "folder"
    assert choose_reader(tmp_path, get_task("sst2")).name == "folder"  # the glue reader reads files only
    assert choose_reader(tmp_path, get_task("hyperpartisan")).name == "hyperpartisan"


@pytest.mark.parametrize(
    "name, task, columns, expected",
    [
        ("train.tsv", "sst2", None, "glue"),
        ("train.json", "mnli", None, "glue"),
        ("train.tsv", "sst2", {"text": "s", "label": "l"}, "tsv"),
        ("train.csv", "sst2", {"text": "s", "label": "l"}, "csv"),
        ("train.csv", "imdb", None, "csv"),
        ("train.txt", "imdb", None, "tsv"),
        ("train.jsonl", "ag", None, "tsv"),
        ("train.txt", "chemprot", None, "jsonl"),
        ("train-en.tsv", "panx", None, "xtreme-tokens"),
        ("dev-de.tsv", "xnli", {"text": "0", "label": "2"}, "xnli"),
        ("articles.xml", "hyperpartisan", None, "hyperpartisan"),
    ],
)
def test_auto_chooses_the_tasks_own_reader(tmp_path, name, task, columns, expected):
    assert choose_reader(write(tmp_path / name, ""), get_task(task), columns=columns).name == expected


def test_a_named_format_wins_and_an_unknown_one_lists_the_registry(tmp_path):
    path = write(tmp_path / "train.tsv", "")
    assert choose_reader(path, get_task("sst2"), "csv").name == "csv"
    with pytest.raises(
        AdapterlabError, match=f"data format 'glorp' is not known; allowed: auto, {', '.join(READERS)}$"
    ):
        read_examples(path, get_task("sst2"), fmt="glorp")


def test_every_tasks_reader_is_registered():
    assert {spec.reader for spec in TASKS.values()} <= {"auto", *READERS}


def test_data_folders_find_split_files_by_the_registered_suffixes():
    assert claimed_suffixes() == (
        ".tsv",
        ".jsonl",
        ".json",
        ".txt",
        ".csv",
        ".conllu",
    )  # .tsv first: train.tsv before train.jsonl
    assert set(claimed_suffixes()) == {s for r in READERS.values() for s in r.suffixes if s != "/"}


def _fixture(tmp_path, name):
    """(path, task) of a tiny input for reader `name`."""
    if name == "folder":
        (tmp_path / "pos").mkdir()
        write(tmp_path / "pos" / "0.txt", "fine\n")
        return tmp_path, "bbc"
    if name == "hyperpartisan":
        _hyperpartisan(tmp_path)
        return tmp_path, "hyperpartisan"
    files = {
        "glue": ("train.tsv", "sentence\tlabel\nfine .\t1\n", "sst2"),
        "jsonl": ("train.jsonl", json.dumps({"text": "fine", "label": "pos"}) + "\n", "classification"),
        "tsv": ("train.tsv", "text\tlabel\nfine\tpos\n", "classification"),
        "csv": ("train.csv", "text,label\nfine,pos\n", "classification"),
        "xtreme-tokens": ("train-en.tsv", "Paris\tB-LOC\n", "panx"),
        "conllu": ("train.conllu", "1\tGo\tgo\tVERB\t_\t_\t0\troot\t_\t_\n", "udpos"),
        "xnli": ("dev-de.tsv", "Er kam.\tEr ging.\tneutral\n", "xnli"),
    }
    file, text, task = files[name]
    return write(tmp_path / file, text), task


@pytest.mark.parametrize("name", list(READERS))
def test_every_registered_reader_has_the_one_signature(tmp_path, name):
    reader = READERS[name]
    assert reader.name == name and list(inspect.signature(reader.read).parameters) == ["path", "options"]
    path, task = _fixture(tmp_path, name)
    examples = reader.read(path, ReadOptions(task=get_task(task)))
    assert examples and all(isinstance(e, Example) for e in examples)
    assert read_examples(path, get_task(task), fmt=name) == examples


def test_a_reader_refuses_the_wrong_kind_of_path(tmp_path):
    file = write(tmp_path / "train.tsv", "text\tlabel\nfine\tpos\n")
    assert (
        one_line_error(read_examples, tmp_path, get_task("classification"), fmt="tsv")
        == f"{tmp_path}: a folder; data format 'tsv' reads a file"
    )
    assert one_line_error(read_examples, file, get_task("classification"), fmt="folder").startswith(
        f"{file}: a file; data format 'folder' reads a folder"
    )
    assert one_line_error(read_examples, file, get_task("classification"), fmt="glue").startswith(
        "data format 'glue' needs a GLUE task; 'classification'"
    )


def test_cli_help_lists_every_registered_reader(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = re.sub(r"-\s+", "-", " ".join(capsys.readouterr().out.split()))  # argparse wraps lines, also at hyphens
    option = text[text.index("--format") :]
    assert all(name in option for name in READERS), option[:400]


def test_unlabelled_json_lines_read_as_text_to_predict(tmp_path):
    """`adapterlab predict` reads JSON lines without labels (labels_optional): the generic {text}
    layout and GLUE's JSON layout; training still needs the label and says so."""
    import dataclasses

    from adapterlab.data.readers import read_examples
    from adapterlab.data.tasks import get_task
    from adapterlab.errors import AdapterlabError

    plain = tmp_path / "texts.jsonl"
    plain.write_text('{"text": "nice"}\n{"text": "bad"}\n')
    spec = dataclasses.replace(get_task("classification"), labels=None)
    assert [(e.text, e.label) for e in read_examples(plain, spec, "jsonl", {}, labels_optional=True)] == [
        ("nice", None),
        ("bad", None),
    ]
    with pytest.raises(AdapterlabError, match="missing field 'label'"):
        read_examples(plain, spec, "jsonl", {})
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text('{"sentence1": "a cat sat", "sentence2": "an animal sat"}\n')
    mnli = dataclasses.replace(get_task("mnli"), labels=None)
    assert [(e.text, e.text_pair, e.label) for e in read_examples(pairs, mnli, "glue", {}, labels_optional=True)] == [
        ("a cat sat", "an animal sat", None)
    ]


@pytest.mark.parametrize("suffix, sep", [(".tsv", "\t"), (".csv", ",")])
def test_a_header_naming_only_the_label_is_a_header_not_an_example(tmp_path, suffix, sep):
    """SST-2's train.tsv is `sentence<TAB>label`: the header names the label column only. It was
    read as an example with the label 'label' (and a 3-column header read as data, the id as the
    text); now the other column of a two-column header is the text, and a wider one needs --columns."""
    from adapterlab.data.readers import read_examples
    from adapterlab.data.tasks import get_task
    from adapterlab.errors import AdapterlabError

    two = tmp_path / f"two{suffix}"
    two.write_text(f"sentence{sep}label\nit is good{sep}1\nbad{sep}0\n")
    assert [(e.text, e.label) for e in read_examples(two, get_task("classification"), "auto", {})] == [
        ("it is good", "1"),
        ("bad", "0"),
    ]
    three = tmp_path / f"three{suffix}"
    three.write_text(f"id{sep}sentence{sep}label\n1{sep}good{sep}1\n")
    with pytest.raises(
        AdapterlabError, match=r"header has no column 'text' \(give --columns text=COLUMN,label=COLUMN\)"
    ):
        read_examples(three, get_task("classification"), "auto", {})
    plain = tmp_path / f"plain{suffix}"
    plain.write_text(f"good film{sep}1\nbad{sep}0\n")  # no header: text, label by position, as before
    assert [(e.text, e.label) for e in read_examples(plain, get_task("classification"), "auto", {})] == [
        ("good film", "1"),
        ("bad", "0"),
    ]


def test_a_wide_table_without_a_header_must_say_which_column_is_which(tmp_path):
    """CoLA's files (source, label, original label, sentence; no header) used to be read as text =
    the source code and label = column 1: a comparison of methods on ids. A table of more than two
    columns without a header naming text and label is one line asking for --columns; two columns
    keep the text-then-label reading, and --columns with numbers reads the wide one."""
    cola = write(tmp_path / "dev.tsv", "gj04\t1\t\tThe sailors rode the breeze clear of the rocks.\n" * 3)
    error = one_line_error(read_examples, cola, get_task("classification"))
    assert error.startswith(f"{cola}:1: 4 tab-separated columns and no header naming text and label (first row: 'gj04")
    assert "--columns text=COLUMN,label=COLUMN" in error
    read = read_examples(cola, get_task("classification"), columns={"text": "3", "label": "1"})
    assert (read[0].text, read[0].label) == ("The sailors rode the breeze clear of the rocks.", "1")
    two = write(tmp_path / "two.csv", "a fine film,pos\na dull one,neg\n")
    assert [(e.text, e.label) for e in read_examples(two, get_task("classification"))] == [
        ("a fine film", "pos"),
        ("a dull one", "neg"),
    ]


def test_a_tsv_whose_fields_are_all_quoted_is_told_to_be_a_csv(tmp_path):
    """A TSV is read without quoting (GLUE's sentences hold raw quotes), so a spreadsheet's quoted
    TSV would give labels '"1"' and texts in quotes: one line says what to do instead; the same
    rows as CSV read as meant, and a TSV with a quote in one text is read as it is."""
    quoted = tmp_path / "q.tsv"
    quoted.write_text('"sentence"\t"label"\n"a good movie"\t"1"\n"a bad, bad movie"\t"0"\n')
    with pytest.raises(AdapterlabError, match=r"q.tsv:1: every field is in double quotes.*save the file as \.csv"):
        read_examples(str(quoted), get_task("classification"))
    as_csv = tmp_path / "q.csv"
    as_csv.write_text('"sentence","label"\n"a good movie","1"\n"a bad, bad movie","0"\n')
    assert [(e.text, e.label) for e in read_examples(str(as_csv), get_task("classification"))] == [
        ("a good movie", "1"),
        ("a bad, bad movie", "0"),
    ]
    raw = tmp_path / "raw.tsv"
    raw.write_text('sentence\tlabel\n"a good movie" , he said\t1\n')
    assert read_examples(str(raw), get_task("classification"))[0].text == '"a good movie" , he said'
