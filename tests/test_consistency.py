"""The chunked ``consistency`` metric: tiny random-weight checkers of each architecture load through the
presets' own loading code; chunking and aggregation match hand-worked cases; HHEM needs trust_remote_code.

The reference for each architecture's pair score is the checker's published recipe written out here
(MiniCheck: ``chunk</s>claim``, softmax, class 1; Flan-T5 MiniCheck: ``predict: chunk</s>claim``, first
decoder step, softmax over the tokens "0" and "1"; AlignScore: the pair, 3-way head on the pooled
output, class 0), computed with transformers directly on the same folder.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("tokenizers")

from evalkit.core.errors import ConfigError
from evalkit.core.types import Candidate, Document
from evalkit.metrics.consistency import ChunkedConsistency, aggregate, chunk_spans
from evalkit.run.registry import build_metric

# Four sentences of 4, 3, 5 and 2 tokens with a whitespace-and-punctuation tokenizer ("." is a token).
S1, S2, S3, S4 = "Alpha beta gamma.", "Delta epsilon.", "Zeta eta theta iota.", "Kappa."
CORPUS = [f"{S1} {S2} {S3} {S4}", "The council met on Monday. It approved a budget for parks. 0 1",
          "The mayor resigned. Nobody protested on Monday."]


def _tokenizer(model_max_length: int = 64):
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(CORPUS, trainers.WordLevelTrainer(special_tokens=["<pad>", "<unk>", "<s>", "</s>"]))
    tok.post_processor = processors.TemplateProcessing(single="<s> $A </s>", pair="<s> $A </s> </s> $B:1 </s>:1",
                                                       special_tokens=[("<s>", 2), ("</s>", 3)])
    return transformers.PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", unk_token="<unk>",
                                                bos_token="<s>", cls_token="<s>", eos_token="</s>", sep_token="</s>",
                                                model_max_length=model_max_length), tok.get_vocab_size()


def _seq2seq_tokenizer():
    from tokenizers import processors

    tokenizer, size = _tokenizer()
    tokenizer.backend_tokenizer.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A </s> $B:1 </s>:1", special_tokens=[("</s>", 3)])
    return tokenizer, size


def _classifier(folder, architecture: str):
    tokenizer, vocab = _tokenizer()
    torch.manual_seed(0)
    small = {"vocab_size": vocab, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
             "intermediate_size": 64, "num_labels": 2, "pad_token_id": 0}
    if architecture == "deberta-v2":
        model = transformers.DebertaV2ForSequenceClassification(
            transformers.DebertaV2Config(max_position_embeddings=128, **small))
    else:
        model = transformers.RobertaForSequenceClassification(
            transformers.RobertaConfig(max_position_embeddings=130, **small))
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def _t5(folder):
    tokenizer, vocab = _seq2seq_tokenizer()
    torch.manual_seed(0)
    config = transformers.T5Config(vocab_size=vocab, d_model=32, d_ff=64, d_kv=16, num_layers=2, num_heads=2,
                                   pad_token_id=0, eos_token_id=3, decoder_start_token_id=0)
    transformers.T5ForConditionalGeneration(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def _alignscore(folder):
    """A backbone folder (config, tokenizer) and a Lightning-style checkpoint with ``base_model.*`` and heads."""
    tokenizer, vocab = _tokenizer()
    torch.manual_seed(0)
    config = transformers.RobertaConfig(vocab_size=vocab, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                        intermediate_size=64, max_position_embeddings=130, pad_token_id=0)
    encoder = transformers.RobertaModel(config, add_pooling_layer=True)
    tri, binary = torch.nn.Linear(32, 3), torch.nn.Linear(32, 2)
    state = {f"base_model.{k}": v for k, v in encoder.state_dict().items()}
    state.update({"tri_layer.weight": tri.weight.data, "tri_layer.bias": tri.bias.data,
                  "bin_layer.weight": binary.weight.data, "bin_layer.bias": binary.bias.data})
    torch.save({"state_dict": state}, folder / "AlignScore-base.ckpt")
    config.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder), encoder.eval(), tri.eval()


@pytest.fixture(scope="module")
def roberta(tmp_path_factory):
    return _classifier(tmp_path_factory.mktemp("roberta"), "roberta")


def _direct_classifier(folder, chunk, claim):
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    model = transformers.AutoModelForSequenceClassification.from_pretrained(folder).eval()
    with torch.no_grad():
        logits = model(**tokenizer([chunk + "</s>" + claim], return_tensors="pt")).logits
    return float(torch.softmax(logits, -1)[0, 1])


def _direct_t5(folder, chunk, claim):
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    model = transformers.AutoModelForSeq2SeqLM.from_pretrained(folder).eval()
    zero, one = tokenizer.convert_tokens_to_ids("0"), tokenizer.convert_tokens_to_ids("1")
    encoded = tokenizer(["predict: " + chunk + "</s>" + claim], return_tensors="pt")
    with torch.no_grad():
        logits = model(**encoded, decoder_input_ids=torch.zeros((1, 1), dtype=torch.long)).logits[:, 0, :]
    return float(torch.softmax(logits[:, [zero, one]], -1)[0, 1])


ARTICLE = "The council met on Monday. It approved a budget for parks."
CLAIM = "The council approved parks."


@pytest.mark.parametrize(("architecture", "preset", "expected_class"), [
    ("roberta", "minicheck-roberta-large", "RobertaForSequenceClassification"),
    ("deberta-v2", "minicheck-deberta-v3-large", "DebertaV2ForSequenceClassification"),
    ("deberta-v2", "factcg-deberta", "DebertaV2ForSequenceClassification"),
    ("t5", "minicheck-flan-t5-large", "T5ForConditionalGeneration"),
])
def test_tiny_checkers_of_each_architecture_load_through_the_preset_code(tmp_path, architecture, preset,
                                                                           expected_class):
    folder = _t5(tmp_path) if architecture == "t5" else _classifier(tmp_path, architecture)
    metric = build_metric({"kind": "consistency", "preset": preset, "model": folder})
    document = Document(id="d", text=ARTICLE)
    [result] = metric.score([Candidate(document, CLAIM)])
    assert type(metric._load().model).__name__ == expected_class
    direct = _direct_t5 if architecture == "t5" else _direct_classifier
    # One chunk (the article is far under 400 tokens), one claim: the value is that pair's support.
    assert result.info["chunks"] == 1
    assert result.values["consistency_mean"] == pytest.approx(direct(folder, ARTICLE, CLAIM), abs=1e-5)
    assert result.values["consistency_min"] == result.values["consistency_mean"]


def test_the_t5_checker_reads_the_tokens_0_and_1_at_the_first_decoder_step(tmp_path):
    folder = _t5(tmp_path)
    metric = ChunkedConsistency(preset="minicheck-flan-t5-large", model=folder)
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    assert metric._load().support_index == (tokenizer.convert_tokens_to_ids("0"),
                                            tokenizer.convert_tokens_to_ids("1"))


def test_an_alignscore_checkpoint_loads_its_encoder_and_three_way_head(tmp_path):
    folder, encoder, tri = _alignscore(tmp_path)
    metric = ChunkedConsistency(preset="alignscore-base", model=folder)
    [result] = metric.score([Candidate(Document(id="d", text=ARTICLE), CLAIM)])
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    with torch.no_grad():
        pooled = encoder(**tokenizer([ARTICLE], [CLAIM], return_tensors="pt")).pooler_output
        expected = float(torch.softmax(tri(pooled), -1)[0, 0])
    assert result.values["consistency_mean"] == pytest.approx(expected, abs=1e-5)


def test_chunks_pack_sentences_greedily_up_to_the_token_budget():
    lengths = [4, 3, 5, 2]  # S1..S4
    assert chunk_spans(lengths, 7) == [(0, 2), (2, 4)]  # 4+3=7 | 5+2=7
    assert chunk_spans(lengths, 12) == [(0, 3), (3, 4)]  # 4+3+5=12 | 2
    assert chunk_spans(lengths, 6) == [(0, 1), (1, 2), (2, 3), (3, 4)]  # 4 | 3 (3+5>6) | 5 (5+2>6) | 2
    assert chunk_spans(lengths, 3) == [(0, 1), (1, 2), (2, 3), (3, 4)]  # a sentence over the budget stands alone
    assert chunk_spans([], 5) == []


def test_chunks_of_a_known_text_with_the_tokenizer(roberta):
    metric = ChunkedConsistency(preset="minicheck-roberta-large", model=roberta)
    article = f"{S1} {S2} {S3} {S4}"
    assert metric.chunks(article, 7) == [f"{S1} {S2}", f"{S3} {S4}"]
    assert metric.chunks(article, 9) == [f"{S1} {S2}", f"{S3} {S4}"]  # 4+3=7, +5 > 9 | 5+2
    assert metric.chunks(article, 12) == [f"{S1} {S2} {S3}", S4]
    # The budget leaves room for the claim: MiniCheck reads "<s> chunk </s> claim </s>", so 64 tokens minus
    # the claim's 4 minus those 3 = 57, and chunk_tokens (400 for MiniCheck) is cut to 57.
    assert metric.budget(4) == 64 - 4 - 3


def test_aggregation_is_max_over_chunks_then_mean_and_min_over_sentences(roberta):
    # Hand-worked: 3 chunks x 2 sentences.
    #              chunk 0  chunk 1  chunk 2   best (chunk)
    # sentence A    0.2      0.9      0.4      0.9 (1)
    # sentence B    0.7      0.1      0.3      0.7 (0)
    # mean = (0.9 + 0.7) / 2 = 0.8; min = 0.7
    mean, least, best_chunk, best = aggregate([[0.2, 0.9, 0.4], [0.7, 0.1, 0.3]])
    assert (mean, least, best) == (pytest.approx(0.8), 0.7, [0.9, 0.7]) and best_chunk == [1, 0]
    a, b = "Alpha beta.", "Kappa gamma."
    table = {(S1, a): 0.2, (S2, a): 0.9, (S3, a): 0.4, (S1, b): 0.7, (S2, b): 0.1, (S3, b): 0.3}
    asked = []

    def fake(pairs):
        asked.extend(pairs)
        return [table[p] for p in pairs]

    # chunk_tokens 6: S1 (4) | S2 (3; 3+5 > 6) | S3 (5): three chunks of one sentence each.
    metric = ChunkedConsistency(preset="minicheck-roberta-large", model=roberta, chunk_tokens=6, pair_scorer=fake)
    document = Document(id="d", text=f"{S1} {S2} {S3}")
    first, second = metric.score([Candidate(document, f"{a} {b}"), Candidate(document, b)])
    assert first.values == pytest.approx({"consistency_mean": 0.8, "consistency_min": 0.7})
    assert first.info["support_chunk"] == [1, 0] and first.info["chunks"] == 3
    assert first.info["least_supported"] == b
    assert second.values == pytest.approx({"consistency_mean": 0.7, "consistency_min": 0.7})
    assert len(asked) == len(set(asked)) == 6  # each distinct pair scored once, shared by both summaries


def test_empty_summary_or_article_has_no_value_and_says_why(roberta):
    metric = ChunkedConsistency(preset="minicheck-roberta-large", model=roberta, pair_scorer=lambda p: [1.0] * len(p))
    empty_summary, empty_article = metric.score([Candidate(Document(id="d", text=ARTICLE), ""),
                                                 Candidate(Document(id="e", text=""), CLAIM)])
    assert empty_summary.values["consistency_mean"] is None
    assert "no sentences" in empty_summary.notes["consistency_mean"]
    assert empty_article.values["consistency_min"] is None
    assert "article" in empty_article.notes["consistency_min"]


def test_a_pair_longer_than_the_model_is_cut_and_counted(roberta):
    metric = ChunkedConsistency(preset="minicheck-roberta-large", model=roberta, max_length=12)
    long_sentence = "The council met on Monday and approved a budget for parks on Monday."  # 14 tokens
    [result] = metric.score([Candidate(Document(id="d", text=long_sentence), CLAIM)])
    assert result.info["truncated_pairs"] == 1
    assert result.values["consistency_mean"] is not None


def test_hhem_is_refused_without_trust_remote_code():
    with pytest.raises(ConfigError) as caught:
        build_metric({"kind": "consistency", "preset": "hhem"})
    message = str(caught.value)
    assert "\n" not in message and "trust_remote_code: true" in message and "code downloaded from the hub" in message


def test_an_unknown_preset_gets_a_did_you_mean():
    with pytest.raises(ConfigError, match="did you mean 'minicheck-roberta-large'"):
        build_metric({"kind": "consistency", "preset": "minicheck-roberta"})


def test_the_signature_follows_the_preset_and_the_chunk_size(roberta):
    base = ChunkedConsistency(preset="minicheck-roberta-large", model=roberta)
    assert base.signature == ChunkedConsistency(preset="minicheck-roberta-large", model=roberta).signature
    assert base.signature != ChunkedConsistency(preset="minicheck-roberta-large", model=roberta,
                                                chunk_tokens=200).signature
    assert base.signature != ChunkedConsistency(preset="factcg-deberta", model=roberta).signature
    assert [m.name for m in base.measures()] == ["consistency_mean", "consistency_min"]


def test_a_run_scores_caches_and_declares_its_measures(roberta, tmp_path):
    from evalkit.core.types import LengthTarget
    from evalkit.run.experiment import Experiment

    docs = [Document(id="d0", text=ARTICLE, references=("x",)),
            Document(id="d1", text="The mayor resigned. Nobody protested on Monday.", references=("x",))]
    spec = {"kind": "consistency", "preset": "minicheck-roberta-large", "model": roberta, "batch_size": 4}
    experiment = Experiment(systems=[{"kind": "lead"}], metrics=[spec], target=LengthTarget(sentences=1),
                            output_dir=tmp_path / "runs", progress=False)
    run = experiment.run(docs)
    assert set(run.wide()["consistency_mean"].map(lambda v: 0 <= v <= 1)) == {True}
    assert run.measure("consistency_min").scale == "fraction"
    assert run.manifest.metrics["consistency"].signature == build_metric(spec).signature
    assert experiment.run(docs).manifest.counts.scores_computed == 0
