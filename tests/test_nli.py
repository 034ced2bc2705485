"""SummaC-ZS-style NLI consistency on a tiny random-weight BERT classifier built here.

The aggregation is checked by hand on patched pair probabilities; the pair probabilities
themselves against a direct forward pass of the same model (the reference implementation is
transformers' own model call), batched and unbatched.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("tokenizers")

from evalkit.core.errors import ConfigError  # noqa: E402
from evalkit.run.experiment import Experiment  # noqa: E402
from evalkit.metrics.nli import NLIConsistency  # noqa: E402
from evalkit.run.registry import build_metric  # noqa: E402
from evalkit.core.types import Candidate, Document, LengthTarget  # noqa: E402

ARTICLE = "The council met on Monday. It approved a budget for parks. Residents protested outside the hall."
LABELS = {0: "ENTAILMENT", 1: "NEUTRAL", 2: "CONTRADICTION"}


def _tiny(folder, id2label):
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers

    corpus = [ARTICLE, "The mayor resigned. The council approved parks. Nobody protested on Monday."]
    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(corpus, trainers.WordLevelTrainer(special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]"]))
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
                                                       special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    tokenizer = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]",
                                                     cls_token="[CLS]", sep_token="[SEP]", model_max_length=64)
    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=tok.get_vocab_size(), hidden_size=16, num_hidden_layers=1,
                                     num_attention_heads=2, intermediate_size=32, max_position_embeddings=64,
                                     num_labels=3, id2label=id2label, label2id={v: k for k, v in id2label.items()})
    transformers.BertForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return _tiny(tmp_path_factory.mktemp("nli"), LABELS)


def _direct(model_dir, premise, hypothesis, entail=0, contra=2):
    tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir)
    model = transformers.AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    with torch.no_grad():
        probs = torch.softmax(model(**tokenizer(premise, hypothesis, return_tensors="pt")).logits, -1)[0]
    return float(probs[entail]), float(probs[contra])


def test_the_aggregation_is_max_over_article_then_mean_and_min_over_summary(tiny, monkeypatch):
    metric = NLIConsistency(model=tiny)
    a1, a2, a3 = "The council met on Monday.", "It approved a budget for parks.", "Residents protested outside the hall."
    s1, s2, s3 = "The council met.", "Parks got money.", "Nobody protested."
    probs = {  # (P(entail), P(contradict))
        (a1, s1): (0.9, 0.05), (a2, s1): (0.2, 0.1), (a3, s1): (0.1, 0.8),
        (a1, s2): (0.3, 0.6), (a2, s2): (0.4, 0.1), (a3, s2): (0.05, 0.9),
        (a1, s3): (0.1, 0.7), (a2, s3): (0.1, 0.2), (a3, s3): (0.0, 1.0),
    }
    asked = []

    def fake(pairs):
        asked.extend(pairs)
        import numpy as np

        return np.array([probs[p] for p in pairs])

    monkeypatch.setattr(metric, "_pair_probs", fake)
    document = Document(id="d", text=ARTICLE)
    first, second = metric.score([Candidate(document, f"{s1} {s2}"), Candidate(document, f"{s1} {s3}")])
    # s1: max(0.85, 0.1, -0.7) = 0.85; s2: max(-0.3, 0.3, -0.85) = 0.3; s3: max(-0.6, -0.1, -1.0) = -0.1
    assert first.values["nli_consistency_mean"] == pytest.approx((0.85 + 0.3) / 2)
    assert first.values["nli_consistency_min"] == pytest.approx(0.3)
    assert first.values["nli_entailment_mean"] == pytest.approx((0.9 + 0.4) / 2)
    assert second.values["nli_consistency_mean"] == pytest.approx((0.85 - 0.1) / 2)
    assert second.values["nli_consistency_min"] == pytest.approx(-0.1)
    assert second.info["least_supported"] == s3 and second.info["support_sentence"] == [0, 1]
    assert sorted(asked) == sorted(probs)  # every distinct pair once: s1 is shared by both summaries


def test_pair_probabilities_are_the_models_own_batched_or_not(tiny):
    premise, hypothesis = "It approved a budget for parks.", "The council approved parks."
    direct = {p: _direct(tiny, p, hypothesis) for p in ("The council met on Monday.", premise,
                                                       "Residents protested outside the hall.")}
    expected = max(e - c for e, c in direct.values())
    for batch_size in (1, 2, 16):
        [result] = NLIConsistency(model=tiny, batch_size=batch_size).score([Candidate(Document("d", ARTICLE),
                                                                                      hypothesis)])
        assert result.values["nli_consistency_mean"] == pytest.approx(expected, abs=1e-5)
        assert result.values["nli_entailment_mean"] == pytest.approx(max(e for e, _ in direct.values()), abs=1e-5)


def test_labels_come_from_the_model_config_or_are_given(tmp_path):
    reordered = _tiny(tmp_path / "reordered", {0: "contradiction", 1: "neutral", 2: "entailment"})
    hypothesis = "The council met."
    [result] = NLIConsistency(model=reordered).score([Candidate(Document("d", "The council met on Monday."),
                                                                hypothesis)])
    e, c = _direct(reordered, "The council met on Monday.", hypothesis, entail=2, contra=0)
    assert result.values["nli_consistency_mean"] == pytest.approx(e - c, abs=1e-5)
    anonymous = _tiny(tmp_path / "anonymous", {0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"})
    with pytest.raises(ConfigError, match="give them as labels"):
        NLIConsistency(model=anonymous).score([Candidate(Document("d", ARTICLE), hypothesis)])
    [given] = NLIConsistency(model=anonymous, labels={"entailment": 2, "contradiction": 0}).score(
        [Candidate(Document("d", "The council met on Monday."), hypothesis)])
    e, c = _direct(anonymous, "The council met on Monday.", hypothesis, entail=2, contra=0)
    assert given.values["nli_consistency_mean"] == pytest.approx(e - c, abs=1e-5)


def test_long_articles_are_capped_or_truncated_and_say_so(tiny):
    document = Document("d", ARTICLE)
    [capped] = NLIConsistency(model=tiny, max_article_sentences=2).score([Candidate(document, "The council met.")])
    assert capped.info["premises"] == 2 and capped.info["premises_dropped"] == 1
    assert "only the first 2 article sentences" in capped.notes["nli_consistency_mean"]
    [cut] = NLIConsistency(model=tiny, max_length=8).score([Candidate(document, "The council approved parks.")])
    assert cut.info["truncated_pairs"] == 3  # every premise (5-7 words) + 4 words + 4 specials > 8
    [empty] = NLIConsistency(model=tiny).score([Candidate(document, "")])
    assert empty.values["nli_consistency_mean"] is None and "no sentences" in empty.notes["nli_consistency_mean"]


def test_a_run_scores_caches_and_declares_its_measures(tiny, tmp_path):
    docs = [Document(id="d0", text=ARTICLE, references=("x",)),
            Document(id="d1", text="The mayor resigned. The council approved parks.", references=("x",))]
    spec = {"kind": "nli", "model": tiny, "batch_size": 4}
    experiment = Experiment(systems=[{"kind": "lead"}], metrics=[spec], target=LengthTarget(sentences=1),
                            output_dir=tmp_path / "runs", progress=False)
    run = experiment.run(docs)
    assert set(run.wide()["nli_consistency_mean"].map(lambda v: -1 <= v <= 1)) == {True}
    assert run.measure("nli_consistency_mean").label == "NLI consistency (SummaC-ZS)"
    assert run.manifest.metrics["nli"].signature == build_metric(spec).signature
    again = experiment.run(docs)
    assert again.manifest.counts.scores_computed == 0
    assert build_metric({**spec, "max_length": 128}).signature != build_metric(spec).signature
    with pytest.raises(ConfigError, match="labels must be"):
        build_metric({**spec, "labels": {"entail": 0}})
