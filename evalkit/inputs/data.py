"""Loading documents: local JSONL, CSV and Parquet files, Hugging Face datasets, and the bundled sample.

Every loader maps the source's columns onto :class:`~evalkit.core.types.Document` through a
:class:`Columns` mapping and checks the data as it goes: a missing column, an empty text, a
duplicate id or a row without references is a :class:`DataError` that names the file, the row
and the fix.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

from evalkit.core.options import Flag, Options, Text, Whole, shown
from evalkit.core.types import Document, LengthTarget

log = logging.getLogger(__name__)

DATA_FILES = Path(__file__).resolve().parents[1] / "data_files"
"""The data shipped inside the package: the sample, demo outputs and the scraped-request case."""
BUNDLED = DATA_FILES / "news_sample.jsonl"
"""The sample written for this project (24 fictional news articles with references)."""


from evalkit.core.errors import DataError  # noqa: E402


class Columns(Options):
    """Which source columns hold the document's parts (the ``columns:`` mapping of a data spec)."""

    text: Text = "article"
    """The column with the article text."""
    references: tuple[Text, ...] = ("references",)
    """One or more columns; each may hold a string or a list of strings."""
    id: Text | None = "id"
    """``None`` numbers the rows instead (``<source>-<row>``)."""
    instruction: Text | None = None
    """A column with a user instruction ("in 3 sentences") that becomes the document's target."""

    @field_validator("references", mode="before")
    @classmethod
    def _one_or_more(cls, value: Any) -> Any:
        return (value,) if isinstance(value, str) else value

    @classmethod
    def from_value(cls, value: Columns | Mapping[str, Any] | None) -> Columns:
        """``value`` checked: unknown keys and wrong types are a one-line :class:`DataError`."""
        return cls.parse(value, "columns", error=DataError)


PRESETS: dict[str, dict[str, Any]] = {
    "cnn_dailymail": {"config": "3.0.0", "columns": {"text": "article", "references": "highlights", "id": "id"}},
    "abisee/cnn_dailymail": {"config": "3.0.0", "columns": {"text": "article", "references": "highlights", "id": "id"}},
    "xsum": {"config": None, "columns": {"text": "document", "references": "summary", "id": "id"}},
    "EdinburghNLP/xsum": {"config": None, "columns": {"text": "document", "references": "summary", "id": "id"}},
}
"""Column mappings for well-known hub datasets, so ``hf: cnn_dailymail`` needs nothing else."""


class DataOptions(Options):
    """The ``data:`` settings as a config writes them; :meth:`DataSpec.from_value` checks them here."""

    path: Text | None = None
    """A local ``.jsonl``, ``.json``, ``.csv`` or ``.parquet`` file, or ``"bundled"``."""
    hf: Text | None = None
    """A Hugging Face dataset name (or a local directory ``datasets`` can load)."""
    config: Text | None = None
    """The dataset's configuration (a hub preset fills it in)."""
    split: Text = "test"
    revision: Text | None = None
    columns: Columns | None = None
    """Which source columns hold text, references, id and instruction (a hub preset fills them in)."""
    limit: Annotated[Whole, Field(ge=1)] | None = None
    """At most this many documents; ``null``: all of them."""
    sample: Literal["head", "random"] = "head"
    seed: Annotated[Whole, Field(ge=0)] = 0
    require_references: Flag = True
    clean: Flag = False

    @field_validator("path", mode="before")
    @classmethod
    def _path_as_text(cls, value: Any) -> Any:
        return os.fspath(value) if isinstance(value, os.PathLike) else value

    @field_validator("columns", mode="before")
    @classmethod
    def _columns(cls, value: Any) -> Any:
        return None if value is None else Columns.from_value(value)  # its one line, after "data: "

    @model_validator(mode="after")
    def _one_source(self) -> DataOptions:
        if self.path is None and self.hf is None:
            raise ValueError("needs either 'path' (a local file, or 'bundled') or 'hf' (a Hugging Face dataset name)")
        if self.path is not None and self.hf is not None:
            raise ValueError("takes 'path' or 'hf', not both")
        return self


@dataclass(frozen=True)
class DataSpec:
    """Where the documents come from and how many to take (checked by :class:`DataOptions`)."""

    path: str | None = None
    """A local ``.jsonl``, ``.json``, ``.csv`` or ``.parquet`` file, or ``"bundled"``."""
    hf: str | None = None
    """A Hugging Face dataset name (or a local directory ``datasets`` can load)."""
    config: str | None = None
    split: str = "test"
    revision: str | None = None
    columns: Columns = field(default_factory=Columns)
    limit: int | None = None
    sample: str = "head"
    """``head`` takes the first ``limit`` documents, ``random`` a seeded random sample (in source order)."""
    seed: int = 0
    require_references: bool = True
    clean: bool = False
    """Strip page noise from every text with :func:`evalkit.inputs.clean.clean` (opt-in); each document's
    ``metadata["cleaning"]`` then says what was removed (see :func:`evalkit.inputs.clean.clean_documents`)."""

    @classmethod
    def from_value(cls, value: DataSpec | Mapping[str, Any] | str | os.PathLike | None) -> DataSpec:
        """A spec from ``"bundled"``, a file path or a mapping of :class:`DataOptions`; problems are a one-line DataError."""
        if value is None or value == "bundled":
            return cls(path="bundled")
        if isinstance(value, cls):
            return value
        if isinstance(value, (str, os.PathLike)):
            return cls(path=os.fspath(value))
        if not isinstance(value, Mapping):
            raise DataError(f"data must be 'bundled', a file path or a mapping such as {{path: news.jsonl, limit: 10}}, "
                            f"got {shown(value)}")
        options = DataOptions.parse(value, "data", error=DataError)
        preset = PRESETS.get(options.hf, {}) if options.hf else {}
        settings = options.values()
        if "config" not in value and preset:
            settings["config"] = preset["config"]
        if options.columns is None:
            settings["columns"] = Columns.from_value(preset.get("columns"))
        return cls(**settings)

    def to_dict(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        out["columns"] = {"text": self.columns.text, "references": list(self.columns.references),
                          "id": self.columns.id, "instruction": self.columns.instruction}
        return out


def load(spec: DataSpec | Mapping[str, Any] | str | None = None) -> list[Document]:
    """Load, check and sample documents as ``spec`` says (default: the bundled sample)."""
    spec = DataSpec.from_value(spec)
    if spec.hf is not None:
        documents = load_hf(spec.hf, config=spec.config, split=spec.split, revision=spec.revision,
                            columns=spec.columns, require_references=spec.require_references)
    else:
        path = BUNDLED if spec.path == "bundled" else Path(spec.path)
        documents = load_file(path, columns=spec.columns, require_references=spec.require_references)
    documents = sample(documents, limit=spec.limit, how=spec.sample, seed=spec.seed)
    if spec.clean:
        from evalkit.inputs.clean import clean_documents

        documents = clean_documents(documents)
    return documents


def sample(documents: Sequence[Document], *, limit: int | None, how: str = "head", seed: int = 0) -> list[Document]:
    """At most ``limit`` documents: the first ones, or a seeded random subset kept in source order."""
    if limit is None or limit >= len(documents):
        return list(documents)
    if how == "head":
        return list(documents[:limit])
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(len(documents), size=limit, replace=False))
    return [documents[i] for i in chosen]


def load_file(path: str | Path, *, columns: Columns | Mapping[str, Any] | None = None,
              require_references: bool = True) -> list[Document]:
    """Load a ``.jsonl``/``.json``/``.csv``/``.parquet`` file of documents."""
    path = Path(path)
    if not path.exists():
        hint = " (the bundled sample ships inside the package, in evalkit/data_files/: reinstall evalkit)" \
            if path == BUNDLED else ""
        raise DataError(f"{path}: no such file{hint}")
    rows = read_rows(path)
    return rows_to_documents(rows, source=str(path), columns=Columns.from_value(columns),
                             require_references=require_references)


def load_hf(name: str, *, config: str | None = None, split: str = "test", revision: str | None = None,
            columns: Columns | Mapping[str, Any] | None = None, require_references: bool = True) -> list[Document]:
    """Load a Hugging Face dataset split (from the hub, its cache, or a local directory)."""
    try:
        import datasets
    except ImportError as exc:
        raise DataError('loading hub datasets needs the "datasets" package: pip install "evalkit[hub]"') from exc
    if columns is None and name in PRESETS:
        columns = PRESETS[name]["columns"]
    try:
        dataset = datasets.load_dataset(name, config, split=split, revision=revision)
    except Exception as exc:
        raise DataError(
            f"could not load dataset {name!r} (config={config!r}, split={split!r}): {exc}. "
            "Check the name and split, the network (or set HF_DATASETS_OFFLINE=1 to use the local cache), "
            "or give a local file with data.path."
        ) from exc
    label = f"{name}[{split}]"
    return rows_to_documents(dataset, source=label, columns=Columns.from_value(columns),
                             require_references=require_references)


def read_rows(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a ``.jsonl``/``.json``/``.csv``/``.tsv``/``.parquet`` file (encoding and delimiter detected)."""
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path} is a folder; give a data file (.jsonl, .json, .csv, .tsv or .parquet)")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return _read_jsonl(path)
    if suffix == ".json":
        return _read_json(path)
    if suffix in (".csv", ".tsv"):
        return _read_csv(path, default="\t" if suffix == ".tsv" else ",")
    if suffix in (".parquet", ".pq"):
        import pandas as pd

        try:
            return pd.read_parquet(path).to_dict("records")
        except Exception as exc:  # noqa: BLE001 (pyarrow raises many kinds)
            raise DataError(f"{path}: not a readable Parquet file ({type(exc).__name__}: {exc}); re-export it, or "
                            "save the data as .jsonl or .csv") from exc
    raise DataError(f"{path}: unsupported file type {suffix!r}; use .jsonl, .json, .csv, .tsv or .parquet")


def read_text(path: str | Path) -> str:
    """A text file's content: UTF-8 (with or without BOM), UTF-16 with BOM, else Windows-1252/Latin-1 (logged)."""
    path = Path(path)
    raw = path.read_bytes()
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if b"\x00" in raw[:4096]:
            raise DataError(f"{path}: binary data at byte {exc.start}, not text; give a UTF-8 text file") from exc
        for encoding in ("cp1252", "latin-1"):
            try:
                text = raw.decode(encoding)
            except UnicodeDecodeError:
                continue
            log.warning("%s is not UTF-8 (byte %d); read it as %s. Re-save it as UTF-8 if accents look wrong",
                        path, exc.start, encoding)
            return text
        raise DataError(f"{path}: not UTF-8 text (byte {exc.start}); re-save it as UTF-8") from exc


def _read_csv(path: Path, *, default: str) -> list[dict[str, Any]]:
    import csv
    import io

    import pandas as pd

    text = read_text(path)
    delimiter = sniff_delimiter(text, default=default)
    try:
        frame = pd.read_csv(io.StringIO(text), sep=delimiter, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, csv.Error) as exc:
        raise DataError(f"{path}: not readable as CSV with delimiter {delimiter!r} ({' '.join(str(exc).split())}); "
                        "check the quoting, or save the data as .jsonl") from exc
    return frame.to_dict("records")


def sniff_delimiter(text: str, *, default: str = ",") -> str:
    """The delimiter of a CSV text, read from its header line (column names seldom hold one), else ``csv.Sniffer``."""
    import csv

    header = text.lstrip("\ufeff").split("\n", 1)[0]
    counts = {d: header.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])
    if counts[best] and sorted(counts.values())[-2] < counts[best]:
        return best
    try:
        return csv.Sniffer().sniff(text[:65536], delimiters=",;\t|").delimiter
    except csv.Error:
        return default


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    if path.is_dir():
        raise DataError(f"{path} is a folder; give a .jsonl file")
    with io_lines(path) as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}, line {number}: not valid JSON ({exc.msg}); each line must be one JSON object") from exc
            if not isinstance(row, dict):
                raise DataError(f"{path}, line {number}: expected a JSON object, got {type(row).__name__}")
            rows.append(row)
    return rows


def io_lines(path: Path):
    """The lines of a text file, decoded as :func:`read_text` does."""
    import io

    return io.StringIO(read_text(path))


def _read_json(path: Path) -> list[dict[str, Any]]:
    try:
        data = json.loads(read_text(path))
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: not valid JSON ({exc.msg})") from exc
    if isinstance(data, dict):
        data = data.get("data", data.get("documents"))
    if not isinstance(data, list):
        raise DataError(f"{path}: expected a list of objects (or {{'data': [...]}})")
    return data


def _as_references(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, float) and np.isnan(value):
        return []
    if isinstance(value, str):
        return [value] if value.strip() else []
    if isinstance(value, Iterable):
        return [str(v) for v in value if isinstance(v, str) and v.strip()]
    return [str(value)]


def rows_to_documents(rows: Iterable[Mapping[str, Any]], *, source: str, columns: Columns,
                      require_references: bool = True) -> list[Document]:
    """Turn mapping rows into checked documents; ``source`` names the data in error messages."""
    documents: list[Document] = []
    seen: dict[str, int] = {}
    for number, row in enumerate(rows, start=1):
        where = f"{source}, row {number}"
        needed = [columns.text, *columns.references] + ([columns.id] if columns.id else [])
        if columns.instruction:
            needed.append(columns.instruction)
        if not require_references:
            needed = [c for c in needed if c not in columns.references]
        missing = [c for c in needed if c not in row]
        if missing:
            raise DataError(
                f"{where}: missing column(s) {missing}; the row has {sorted(row)}. "
                "Map your columns, e.g. columns: {text: document, references: summary, id: id}"
            )
        text = row[columns.text]
        check_text(text, where, column=columns.text)
        doc_id = str(row[columns.id]) if columns.id else f"{Path(source).stem}-{number}"
        if not doc_id.strip():
            raise DataError(f"{where}: empty id in column '{columns.id}'; give every row a unique id")
        if doc_id in seen:
            raise DataError(
                f"{where}: duplicate id {doc_id!r} (first seen in row {seen[doc_id]}); ids must be unique"
            )
        seen[doc_id] = number
        references: list[str] = []
        for column in columns.references:
            references.extend(_as_references(row.get(column)))
        if require_references and not references:
            raise DataError(
                f"{where} (id {doc_id!r}): no reference summary in {list(columns.references)}; "
                "add one, or set data.require_references: false to score reference-free metrics only"
            )
        target = None
        if columns.instruction and row.get(columns.instruction):
            from evalkit.core.targets import TargetParseError, parse_target

            try:
                target = parse_target(str(row[columns.instruction]))
            except TargetParseError as exc:
                raise DataError(f"{where} (id {doc_id!r}): {exc}") from exc
        used = {columns.text, columns.id, columns.instruction, *columns.references}
        metadata = {k: v for k, v in row.items() if k not in used and _jsonable(v)}
        metadata["source"] = source
        metadata["row"] = number
        documents.append(Document(id=doc_id, text=text, references=tuple(references), metadata=metadata,
                                  target=target))
    if not documents:
        raise DataError(f"{source}: no documents found (the file is empty or holds only a header); add rows, "
                        "or point data.path at the right file")
    return documents


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def document_from_request(text: str, *, doc_id: str = "request", instruction: str | None = None,
                          references: Sequence[str] = ()) -> Document:
    """A document from a pasted user request: an instruction line (optional) and the article.

    The instruction is taken from ``instruction`` or from the text's first line when it reads as
    one ("Summarize this content to 2000 words in 6 paragraphs").
    """
    from evalkit.core.targets import parse_target, split_instruction

    first, body = split_instruction(text)
    instruction = instruction or first
    target: LengthTarget | None = parse_target(instruction) if instruction else None
    if not body.strip():
        raise DataError("the request holds no article text after the instruction line")
    return Document(id=doc_id, text=body.strip(), references=tuple(references),
                    metadata={"instruction": instruction}, target=target)


MARKUP = re.compile(r"<(script|style|/?(?:html|head|body|div|span|p|a|table|tr|td|ul|li|meta|link|br|img|nav|header"
                    r"|footer|article|section|h[1-6]))\b[^>]*>", re.IGNORECASE)
MAX_MARKUP_SHARE = 0.05
"""An article with more of its characters in HTML tags than this is a page, not an article."""


def markup_share(text: str) -> float:
    """The fraction of ``text``'s characters inside HTML tags (0 for plain text)."""
    return sum(len(m[0]) for m in MARKUP.finditer(text)) / max(len(text), 1)


def check_text(text: Any, where: str, *, column: str = "text") -> None:
    """Refuse an article that is empty, not text, or an HTML page, with how to fix it."""
    if not isinstance(text, str) or not text.strip():
        raise DataError(f"{where}: empty or non-text '{column}'; remove the row or fill in the article")
    share = markup_share(text)
    if share > MAX_MARKUP_SHARE or re.search(r"<script\b|<!doctype html|<html\b", text[:5000], re.IGNORECASE):
        raise DataError(f"{where}: '{column}' looks like an HTML page ({share:.0%} of it is markup), not article "
                        "text; extract the text first (evalkit.inputs.data.html_to_text, or paste the page into "
                        "'evalkit compare', which does it)")


def html_to_text(page: str) -> str:
    """The visible text of an HTML page: scripts, styles and tags removed, one line per block."""
    from html.parser import HTMLParser

    class _Text(HTMLParser):
        skip = {"script", "style", "noscript", "template", "head", "svg"}
        blocks = {"p", "div", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "article", "section"}

        def __init__(self) -> None:
            super().__init__(convert_charrefs=True)
            self.parts: list[str] = []
            self.hidden = 0

        def handle_starttag(self, tag: str, attrs: Any) -> None:
            self.hidden += tag in self.skip
            if tag in self.blocks:
                self.parts.append("\n\n")

        def handle_endtag(self, tag: str) -> None:
            self.hidden -= tag in self.skip and self.hidden > 0

        def handle_data(self, data: str) -> None:
            if not self.hidden:
                self.parts.append(data)

    parser = _Text()
    parser.feed(page)
    parser.close()
    paragraphs = (" ".join(p.split()) for p in "".join(parser.parts).split("\n\n"))
    return "\n\n".join(p for p in paragraphs if p)


def check_documents(documents: Sequence[Document], *, source: str = "documents") -> list[Document]:
    """The checks :func:`rows_to_documents` makes, for documents built in Python (``Experiment.run(documents)``)."""
    seen: dict[str, int] = {}
    for index, doc in enumerate(documents):
        if not isinstance(doc, Document):
            raise DataError(f"{source}[{index}]: expected an evalkit.core.types.Document, got {type(doc).__name__}; "
                            "build one with Document(id=..., text=..., references=(...,))")
        where = f"{source}[{index}] (id {doc.id!r})"
        if not isinstance(doc.id, str) or not doc.id.strip():
            raise DataError(f"{source}[{index}]: empty id; give every document a unique id")
        check_text(doc.text, where)
        if doc.id in seen:
            raise DataError(f"{where}: duplicate id (first at {source}[{seen[doc.id]}]); ids must be unique, or two "
                            "documents' results would be mixed up")
        seen[doc.id] = index
    if not documents:
        raise DataError(f"{source}: no documents given")
    return list(documents)
