"""Loading documents from JSONL, CSV, Parquet and Hugging Face datasets; sampling; data errors."""

import csv
import json
from pathlib import Path

import pandas as pd
import pytest

from evalkit.core.errors import DataError
from evalkit.inputs.data import BUNDLED, Columns, DataSpec, load, load_file, load_hf, sample
from evalkit.core.types import Document

MAPPING = {"text": "body", "references": "gold", "id": "key"}
"""Source columns that differ from the defaults, so every test exercises the mapping."""

ROWS = [
    {"key": "a1", "body": "Rain fell on Monday. Roads flooded.", "gold": "Rain flooded roads.", "topic": "weather"},
    {"key": "a2", "body": "The team won, again. Fans cheered.", "gold": "The team won.", "topic": "sport"},
    {"key": "a3", "body": "Prices rose in Łódź. Shops closed.", "gold": "Prices rose.", "topic": "economy"},
]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def write_csv(path: Path, rows: list[dict]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def check_rows(documents: list[Document], source: Path | str) -> None:
    """The three ROWS, mapped: ids, texts and references in source order, extra columns as metadata."""
    assert [d.id for d in documents] == ["a1", "a2", "a3"]
    assert [d.text for d in documents] == [r["body"] for r in ROWS]
    assert [d.references for d in documents] == [(r["gold"],) for r in ROWS]
    assert documents[2].metadata["topic"] == "economy"
    assert documents[0].metadata["source"] == str(source)
    assert [d.metadata["row"] for d in documents] == [1, 2, 3]
    assert all(d.target is None for d in documents)


# -- formats ------------------------------------------------------------------


def test_jsonl_with_column_mapping(tmp_path):
    path = write_jsonl(tmp_path / "docs.jsonl", ROWS)
    check_rows(load_file(path, columns=MAPPING), path)
    check_rows(load({"path": str(path), "columns": MAPPING}), path)


def test_jsonl_skips_blank_lines(tmp_path):
    path = tmp_path / "docs.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in ROWS).replace("\n", "\n\n") + "\n\n", encoding="utf-8")
    assert [d.id for d in load_file(path, columns=MAPPING)] == ["a1", "a2", "a3"]


def test_csv_with_column_mapping(tmp_path):
    path = write_csv(tmp_path / "docs.csv", ROWS)  # "The team won, again." needs quoting
    check_rows(load_file(path, columns=MAPPING), path)


def test_csv_numeric_ids_stay_text(tmp_path):
    rows = [{"key": "007", "body": "Text one.", "gold": "One."}, {"key": "7", "body": "Text two.", "gold": "Two."}]
    documents = load_file(write_csv(tmp_path / "docs.csv", rows), columns=MAPPING)
    assert [d.id for d in documents] == ["007", "7"]


def test_parquet_with_column_mapping_and_list_references(tmp_path):
    frame = pd.DataFrame(ROWS)
    frame["gold"] = [[r["gold"], "Second reference."] for r in ROWS]
    path = tmp_path / "docs.parquet"
    frame.to_parquet(path)
    documents = load_file(path, columns=MAPPING)
    assert [d.id for d in documents] == ["a1", "a2", "a3"]
    assert documents[1].references == ("The team won.", "Second reference.")
    assert documents[2].text == "Prices rose in Łódź. Shops closed."


def test_several_reference_columns_and_numbered_ids(tmp_path):
    rows = [{"body": "Text one.", "r1": "One.", "r2": ["Uno.", ""]}, {"body": "Text two.", "r1": "", "r2": "Dos."}]
    path = write_jsonl(tmp_path / "multi.jsonl", rows)
    documents = load_file(path, columns={"text": "body", "references": ["r1", "r2"], "id": None})
    assert [d.id for d in documents] == ["multi-1", "multi-2"]  # <file stem>-<row>
    assert documents[0].references == ("One.", "Uno.")  # empty references are dropped
    assert documents[1].references == ("Dos.",)


def test_instruction_column_becomes_the_document_target(tmp_path):
    rows = [{"id": "x", "article": "Some text. More text.", "references": "Ref.", "ask": "in 2 sentences"},
            {"id": "y", "article": "Other text.", "references": "Ref.", "ask": ""}]
    documents = load_file(write_jsonl(tmp_path / "ask.jsonl", rows), columns={"instruction": "ask"})
    assert documents[0].target is not None and documents[0].target.sentences == 2
    assert documents[1].target is None


def test_references_can_be_optional(tmp_path):
    rows = [{"id": "x", "article": "Text without a reference."}]
    documents = load_file(write_jsonl(tmp_path / "free.jsonl", rows), require_references=False)
    assert documents[0].references == ()


def test_bundled_sample_loads():
    if not BUNDLED.exists():
        pytest.skip("the bundled sample is written by another task")
    documents = load("bundled")
    assert documents and all(d.text.strip() and d.references for d in documents)
    assert len({d.id for d in documents}) == len(documents)


# -- Hugging Face datasets ----------------------------------------------------


@pytest.fixture
def hf_folder(tmp_path, monkeypatch):
    """A small dataset saved as the hub stores them (parquet shards in data/), loaded with ``datasets``."""
    datasets = pytest.importorskip("datasets")
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    folder = tmp_path / "tiny_news"
    columns = {k: [r[k] for r in ROWS] for k in ("key", "body", "topic")}
    columns["gold"] = [[r["gold"]] for r in ROWS]  # a sequence feature, as in multi-reference datasets
    datasets.Dataset.from_dict(columns).to_parquet(str(folder / "data" / "train-00000-of-00001.parquet"))
    return folder


def test_load_hf_from_a_local_dataset_folder(hf_folder):
    documents = load_hf(str(hf_folder), split="train", columns=MAPPING)
    assert [d.id for d in documents] == ["a1", "a2", "a3"]
    assert [d.text for d in documents] == [r["body"] for r in ROWS]
    assert [d.references for d in documents] == [(r["gold"],) for r in ROWS]
    assert documents[0].metadata["topic"] == "weather"
    assert documents[0].metadata["source"] == f"{hf_folder}[train]"


def test_load_with_hf_spec_samples_like_a_file(hf_folder):
    documents = load({"hf": str(hf_folder), "split": "train", "columns": MAPPING, "limit": 2})
    assert [d.id for d in documents] == ["a1", "a2"]
    again = load({"hf": str(hf_folder), "split": "train", "columns": MAPPING, "limit": 2, "sample": "random",
                  "seed": 5})
    assert len(again) == 2 and again == load({"hf": str(hf_folder), "split": "train", "columns": MAPPING,
                                              "limit": 2, "sample": "random", "seed": 5})


def test_load_hf_errors_name_the_dataset_and_the_fix(hf_folder):
    with pytest.raises(DataError) as missing_split:
        load_hf(str(hf_folder), split="test", columns=MAPPING)
    assert "test" in str(missing_split.value) and "split" in str(missing_split.value)
    with pytest.raises(DataError) as wrong_columns:
        load_hf(str(hf_folder), split="train")  # default columns: article, references, id
    message = str(wrong_columns.value)
    assert f"{hf_folder}[train], row 1" in message and "'article'" in message and "columns:" in message


def test_hub_presets_fill_in_columns_and_config():
    spec = DataSpec.from_value({"hf": "cnn_dailymail"})
    assert spec.config == "3.0.0"
    assert spec.columns == Columns(text="article", references=("highlights",), id="id")


# -- sampling -----------------------------------------------------------------


def numbered(n: int) -> list[Document]:
    return [Document(id=f"d{i:02d}", text=f"Text {i}.", references=(f"Ref {i}.",)) for i in range(n)]


def test_head_sampling_takes_the_first_documents():
    documents = numbered(10)
    assert sample(documents, limit=3, how="head") == documents[:3]
    assert sample(documents, limit=None) == documents
    assert sample(documents, limit=50, how="random") == documents


def test_random_sampling_is_seeded_and_keeps_source_order():
    documents = numbered(40)
    position = {d.id: i for i, d in enumerate(documents)}
    picks = {seed: sample(documents, limit=8, how="random", seed=seed) for seed in range(5)}
    for seed, picked in picks.items():
        assert picked == sample(documents, limit=8, how="random", seed=seed)  # reproducible
        assert len({d.id for d in picked}) == 8
        indices = [position[d.id] for d in picked]
        assert indices == sorted(indices)  # source order kept
    assert len({tuple(d.id for d in picked) for picked in picks.values()}) > 1  # seeds differ
    assert picks[0] != documents[:8]


def test_random_sampling_through_load(tmp_path):
    rows = [{"id": f"d{i}", "article": f"Article {i}.", "references": f"Ref {i}."} for i in range(30)]
    path = write_jsonl(tmp_path / "many.jsonl", rows)
    spec = {"path": str(path), "limit": 5, "sample": "random", "seed": 1}
    first, second = load(spec), load(spec)
    assert [d.id for d in first] == [d.id for d in second]
    other = load({**spec, "seed": 2})
    assert [d.id for d in other] != [d.id for d in first]
    assert [int(d.id[1:]) for d in first] == sorted(int(d.id[1:]) for d in first)


# -- errors: each names the file, the row and the fix --------------------------


def test_missing_column(tmp_path):
    rows = [ROWS[0], {"key": "a2", "text": "Wrong column name.", "gold": "x"}]
    path = write_jsonl(tmp_path / "bad.jsonl", rows)
    with pytest.raises(DataError) as error:
        load_file(path, columns=MAPPING)
    message = str(error.value)
    assert str(path) in message
    assert "row 2" in message
    assert "missing column(s) ['body']" in message
    assert "'text'" in message  # what the row has
    assert "Map your columns" in message and "columns:" in message


def test_empty_text(tmp_path):
    rows = [ROWS[0], ROWS[1], {**ROWS[2], "body": "   "}]
    path = write_csv(tmp_path / "bad.csv", rows)
    with pytest.raises(DataError) as error:
        load_file(path, columns=MAPPING)
    message = str(error.value)
    assert str(path) in message and "row 3" in message
    assert "empty" in message and "'body'" in message
    assert "remove the row or fill in the article" in message


def test_duplicate_ids(tmp_path):
    rows = [ROWS[0], ROWS[1], {**ROWS[2], "key": "a1"}]
    path = write_jsonl(tmp_path / "dup.jsonl", rows)
    with pytest.raises(DataError) as error:
        load_file(path, columns=MAPPING)
    message = str(error.value)
    assert str(path) in message and "row 3" in message
    assert "duplicate id 'a1'" in message and "first seen in row 1" in message
    assert "ids must be unique" in message


def test_no_references(tmp_path):
    rows = [ROWS[0], {**ROWS[1], "gold": ""}]
    path = write_jsonl(tmp_path / "noref.jsonl", rows)
    with pytest.raises(DataError) as error:
        load_file(path, columns=MAPPING)
    message = str(error.value)
    assert str(path) in message and "row 2" in message and "'a2'" in message
    assert "no reference summary in ['gold']" in message
    assert "require_references: false" in message
    # the fix the message names works
    assert load_file(path, columns=MAPPING, require_references=False)[1].references == ()


def test_no_references_in_parquet_list_column(tmp_path):
    frame = pd.DataFrame({"key": ["a", "b"], "body": ["One.", "Two."], "gold": [["Ref."], []]})
    path = tmp_path / "noref.parquet"
    frame.to_parquet(path)
    with pytest.raises(DataError, match=r"row 2 \(id 'b'\): no reference summary"):
        load_file(path, columns=MAPPING)


def test_bad_json_line(tmp_path):
    path = tmp_path / "broken.jsonl"
    path.write_text(json.dumps(ROWS[0]) + "\n" + '{"key": "a2", "body": "unterminated\n', encoding="utf-8")
    with pytest.raises(DataError) as error:
        load_file(path, columns=MAPPING)
    message = str(error.value)
    assert str(path) in message and "line 2" in message
    assert "not valid JSON" in message and "each line must be one JSON object" in message


def test_json_line_that_is_not_an_object(tmp_path):
    path = tmp_path / "list.jsonl"
    path.write_text(json.dumps(ROWS[0]) + "\n[1, 2]\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"line 2: expected a JSON object, got list"):
        load_file(path, columns=MAPPING)


def test_missing_file_and_unsupported_type(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        load_file(tmp_path / "nope.jsonl")
    other = tmp_path / "docs.xml"
    other.write_text("<docs/>", encoding="utf-8")
    with pytest.raises(DataError, match=r"unsupported file type '\.xml'; use \.jsonl"):
        load_file(other)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text("\n", encoding="utf-8")
    with pytest.raises(DataError, match="no documents found"):
        load_file(path)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"path": "x.jsonl", "limt": 3}, r"^data does not take 'limt' \(did you mean 'limit'\?\)"),
        ({"path": "x.jsonl", "limit": 0}, r"^data: limit must be a whole number >= 1 or null, got 0$"),
        ({"path": "x.jsonl", "sample": "shuffle"}, r"^data: sample must be one of 'head', 'random', got 'shuffle'$"),
        ({"path": "x.jsonl", "hf": "xsum"}, "not both"),
        ({"limit": 3}, "needs either 'path'"),
        ({"path": "x.jsonl", "columns": {"txt": "body"}}, r"^data: columns does not take 'txt' \(did you mean 'text'\?\)"),
    ],
)
def test_bad_data_settings(spec, expected):
    with pytest.raises(DataError, match=expected):
        DataSpec.from_value(spec)
