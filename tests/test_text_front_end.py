"""The text front end: sentences in every language (on the hand-written cases the splitter
was chosen with), chunks that join CJK text without spaces, pauses and tags."""

from __future__ import annotations

import json

import numpy as np
import pytest

from audio.crossfade import crossfade_join
from harness.testdata import TESTDATA
from text.chunks import SpeechChunk, script_chunks, split_into_chunks
from text.script import DOCUMENTED_TAGS, PauseLimits, Script, ScriptError, Segment, parse_script
from text.sentences import split_sentences

CASES = json.loads((TESTDATA / "sentence_cases.json").read_text())
LIMITS = PauseLimits(max_pause_seconds=10, max_total_pause_seconds=12)


@pytest.mark.parametrize("case", [case for case in CASES if "sentencex" not in case.get("missed_by", [])], ids=lambda case: case["text"][:30])
def test_sentences_split_where_a_reader_would(case: dict) -> None:
    sentences = split_sentences(case["text"], case["language"])
    assert [sentence.strip() for sentence in sentences] == case["sentences"]
    assert "".join(sentences) == case["text"]  # nothing lost, nothing added


def test_cjk_chunks_join_without_spaces_and_break_at_full_width_commas() -> None:
    text = "你好。今天天气很好！你去哪里？" * 6
    chunks = split_into_chunks(text, 40, "zh", first_chars=20)
    assert "".join(chunks) == text and all(" " not in chunk for chunk in chunks)
    assert len(chunks[0]) <= 20 and all(len(chunk) <= 40 for chunk in chunks) and chunks[0].endswith("。")
    long_sentence = "这是一个非常长的句子，" * 8 + "结束。"
    pieces = split_into_chunks(long_sentence, 50, "zh")
    assert "".join(pieces) == long_sentence and all(piece.endswith("，") for piece in pieces[:-1])


def test_english_chunks_keep_abbreviations_with_their_sentence() -> None:
    text = "Dr. Smith paid $3.50 for it, e.g. a coffee. " * 3
    assert split_into_chunks(text, 50) == ["Dr. Smith paid $3.50 for it, e.g. a coffee."] * 3


def test_pauses_split_the_text_into_segments_with_silence_between() -> None:
    script = parse_script("[pause:0.5s] Hello. [PAUSE: 750ms] [pause:250ms] Goodbye. [pause:1.5s]", None, LIMITS)
    assert script == Script([Segment("Hello.", 0.5), Segment("Goodbye.", 1.0)], trailing_pause=1.5)
    text = "First sentence here. Second one. [pause:2s] Third sentence, after the pause."
    assert script_chunks(parse_script(text, None, LIMITS), "en", 25) == [
        SpeechChunk("First sentence here."), SpeechChunk("Second one."), SpeechChunk("Third sentence, after the", 2.0), SpeechChunk("pause."),
    ]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("Hi [pause:11s] there", "[pause:11s] is out of range"),
        ("Hi [pause:0s] there", "more than 0"),
        ("Hi [pause:-1s] there", "is not a pause length"),
        ("Hi [pause:2 minutes] there", "write it in ms or s"),
        ("Hi [pause:7s] there [pause:6s] again", "add up to 13 s: at most 12 s"),
        ("[pause:1s]", "no words to speak"),
    ],
)
def test_a_bad_pause_is_refused_with_the_rule_it_breaks(text: str, words: str) -> None:
    with pytest.raises(ScriptError, match=words.replace("[", r"\[").replace("]", r"\]")):
        parse_script(text, None, LIMITS)


def test_turbo_keeps_its_tags_and_refuses_others() -> None:
    tags = list(DOCUMENTED_TAGS)
    assert parse_script("Well [clear throat] hello [LAUGH].", tags, LIMITS).segments == [Segment("Well [clear throat] hello [LAUGH].")]
    with pytest.raises(ScriptError, match=r"unknown tag \[giggle\], \[sic\]: the turbo model performs \[chuckle\]"):
        parse_script("Well [sic] hello [giggle] [laugh].", tags, LIMITS)


def test_models_without_tags_remove_the_known_ones_and_say_so() -> None:
    script = parse_script("Fine [sigh]. Hi[laugh]there, see [1] and [sic].", None, LIMITS)
    assert script.segments == [Segment("Fine. Hi there, see [1] and [sic].")] and script.tags_removed == ("[sigh]", "[laugh]")


def test_a_pause_between_clips_is_silence_the_previous_clip_fades_into() -> None:
    rate, fade = 1000, 10
    clips = [np.ones(100, dtype=np.float32), np.ones(100, dtype=np.float32), np.zeros(0, dtype=np.float32)]
    joined = crossfade_join(clips, rate, fade, gaps=[0, 300, 200])
    assert len(joined) == 100 + 300 + 100 + 200 - 2 * fade
    silent = np.flatnonzero(joined == 0)
    assert silent[0] == 100 and np.all(joined[100:390] == 0) and np.all(joined[-190:] == 0)
