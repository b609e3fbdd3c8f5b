"""Fuzzing the readers of outside files: whatever the bytes, :func:`read_piece`,
:func:`read_edited_midi`, :func:`read_edited` (MusicXML) and :func:`load_project` return normally
or raise :class:`InputError` with one line that starts with the file's path. Anything else (a
``ValueError`` from deep inside pretty_midi, a ``KeyError`` from a hand-edited project) fails the
test.

Inputs: random bytes, valid MIDI files mutated (bit flips, overwritten and inserted bytes,
truncation, chunks spliced between files, absurd header values and delta times), our MusicXML
mutated (absurd numbers where lengths, meters, pitches and tempi belong, bit flips, cuts, deleted
and duplicated ranges) and a valid project file mutated (fields deleted, values of another type,
numbers out of range, the text cut or flipped). The number of inputs tried per reader is printed
at the end of the module (``pytest -s``): ``fuzz counts: ...``.
"""

from __future__ import annotations

import io
import json
import math
import struct
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import mido
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symbolic_v2m.errors import InputError
from symbolic_v2m.evaluation.piece import read_piece
from symbolic_v2m.music.edited import MUSICXML, read_edited
from symbolic_v2m.music.midi_in import read_edited_midi
from symbolic_v2m.music.score import Chord, KeyChange, Note, Score, TempoMap, TimeSignature
from symbolic_v2m.project import Project, load_project, score_to_dict
from symbolic_v2m.video.features import Cut, Shot, VideoFeatures, VideoInfo, VisualBeat

#: inputs tried per reader, and how each ended ("read" or "refused")
COUNTS: dict[str, Counter] = {}
FUZZ = settings(
    max_examples=1500,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(scope="module", autouse=True)
def _print_counts():
    yield
    parts = [
        f"{name}: {sum(c.values())} inputs ({c['read']} read, {c['refused']} refused)"
        for name, c in COUNTS.items()
    ]
    print("\nfuzz counts: " + "; ".join(parts))


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """One folder for the whole module (hypothesis runs many examples per test function)."""
    return tmp_path_factory.mktemp("fuzz")


def _read_or_refuse(name: str, path: Path, read: Callable[[Path], Any]) -> None:
    """The property: ``read(path)`` returns, or raises a one-line InputError naming ``path``."""
    try:
        read(path)
        outcome = "read"
    except InputError as err:
        message = str(err)
        assert message.startswith(f"{path}: ") and "\n" not in message, message
        outcome = "refused"
    COUNTS.setdefault(name, Counter())[outcome] += 1


# --- MIDI ------------------------------------------------------------------------------------


def _midi_bytes(tracks: list[list], type: int = 1, tpb: int = 96) -> bytes:
    midi = mido.MidiFile(type=type, ticks_per_beat=tpb)
    for messages in tracks:
        midi.tracks.append(mido.MidiTrack(messages))
    buffer = io.BytesIO()
    midi.save(file=buffer)
    return buffer.getvalue()


def _notes(pitches: list[int], channel: int = 0, step: int = 48) -> list:
    out = []
    for p in pitches:
        out.append(mido.Message("note_on", note=p, velocity=90, channel=channel, time=0))
        out.append(mido.Message("note_off", note=p, velocity=0, channel=channel, time=step))
    return out


def _seeds() -> list[bytes]:
    meta = mido.MetaMessage
    conductor = [
        meta("set_tempo", tempo=500_000),
        meta("time_signature", numerator=4, denominator=4),
        meta("key_signature", key="Eb"),
        meta("marker", text="A", time=96),
        meta("set_tempo", tempo=400_000, time=192),
        meta("time_signature", numerator=6, denominator=8, time=96),
    ]
    melody = [
        meta("track_name", name="Melody"),
        mido.Message("program_change", program=0),
        mido.Message("control_change", control=7, value=100),
        *_notes([60, 62, 64, 65, 67]),
        mido.Message("pitchwheel", pitch=2000, time=10),
    ]
    bass = [
        meta("track_name", name="Accompaniment"),
        mido.Message("program_change", program=33, channel=1),
        mido.Message("sysex", data=[1, 2, 3]),
        *_notes([36, 43, 48], channel=1, step=96),
    ]
    drums = [meta("track_name", name="Drums"), *_notes([36, 38, 42], channel=9, step=24)]
    type0 = [meta("set_tempo", tempo=600_000), *_notes([72, 74]), *_notes([40], channel=2)]
    # running status (mido writes a status byte for every event): note-ons without status bytes
    running = (
        b"MThd\x00\x00\x00\x06\x00\x00\x00\x01\x00\x60"
        b"MTrk\x00\x00\x00\x13"
        b"\x00\x90\x3c\x40\x60\x3c\x00\x00\x3e\x40\x60\x3e\x00\x00\x40\x40\x60\xff\x2f\x00"
    )
    running = running[:18] + struct.pack(">L", len(running) - 22) + running[22:]
    return [
        _midi_bytes([conductor, melody, bass, drums]),
        _midi_bytes([type0], type=0, tpb=480),
        _midi_bytes([[meta("set_tempo", tempo=500_000)], melody]),
        running,
    ]


SEEDS = _seeds()


def _chunks(data: bytes) -> list[bytes]:
    """The chunks after the header, as far as the file's own lengths say."""
    out, offset = [], 14
    while len(data) - offset >= 8:
        (length,) = struct.unpack(">L", data[offset + 4 : offset + 8])
        out.append(data[offset : offset + 8 + length])
        offset += 8 + length
    return out


#: 16-bit header values worth trying: 0, the types, the sign bit (SMPTE / mido's signed read)
HEADER_VALUES = st.sampled_from([0, 1, 2, 3, 255, 0x7FFF, 0x8000, 0xE728, 0xFFFF]) | st.integers(
    0, 0xFFFF
)
#: delta times as variable-length quantities: the largest, and over-long ones
VLQ = st.sampled_from([b"\x8f\xff\xff\x7f", b"\xff\xff\xff\xff\x7f", b"\x83\xe8\x00", b"\x81\x00"])


#: the mutations, small ones more often (a file that is nearly right goes deepest)
MIDI_OPS = ["flip"] * 4 + ["byte"] * 2 + ["cut", "splice", "insert", "delete", "header", "delta"]


@st.composite
def mutated_midi(draw) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    rnd = draw(st.randoms(use_true_random=False))
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(MIDI_OPS))
        # anywhere after the magic 'MThd' (random bytes try files without it), uniformly:
        # hypothesis's own integers lean to the low end, which is the header here
        at = rnd.randrange(4, max(len(data), 5))
        if op == "flip" and at < len(data):
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "byte" and at < len(data):
            data[at] = draw(st.integers(0, 255))
        elif op == "cut":
            del data[at:]
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 16))]
        elif op == "header" and len(data) >= 14:
            field = draw(st.sampled_from([8, 10, 12]))  # type, track count, division
            data[field : field + 2] = struct.pack(">H", draw(HEADER_VALUES))
        elif op == "delta" and len(data) > 22:
            at = rnd.randrange(22, len(data))
            data[at:at] = draw(VLQ)
        elif op == "splice" and len(data) >= 14:
            chunks = _chunks(bytes(data))
            other = _chunks(draw(st.sampled_from(SEEDS)))
            if chunks and other:
                i = draw(st.integers(0, len(chunks) - 1))
                how = draw(st.sampled_from(["replace", "duplicate", "drop", "swap"]))
                if how == "replace":
                    chunks[i] = draw(st.sampled_from(other))
                elif how == "duplicate":
                    chunks.insert(i, chunks[i])
                elif how == "drop":
                    del chunks[i]
                else:
                    j = draw(st.integers(0, len(chunks) - 1))
                    chunks[i], chunks[j] = chunks[j], chunks[i]
                data = bytearray(bytes(data[:14]) + b"".join(chunks))
    return bytes(data)


RANDOM_BYTES = st.binary(max_size=600) | st.binary(max_size=600).map(
    lambda b: b"MThd\x00\x00\x00\x06" + b
)


#: three in four inputs are mutated files (random bytes rarely get past the header)
MIDI_INPUTS = st.one_of(RANDOM_BYTES, mutated_midi(), mutated_midi(), mutated_midi())


def test_the_seeds_are_valid_midi(folder) -> None:
    for i, data in enumerate(SEEDS):
        path = folder / f"seed{i}.mid"
        path.write_bytes(data)
        assert len(read_piece(path).notes) > 0


@FUZZ
@given(data=MIDI_INPUTS)
def test_read_piece_reads_or_refuses(folder, data: bytes) -> None:
    path = folder / "piece.mid"
    path.write_bytes(data)
    _read_or_refuse("read_piece", path, read_piece)


TRACKS = [
    {"name": "Melody", "role": "melody", "program": 0, "channel": 0},
    {"name": "Accompaniment", "role": "accompaniment", "program": 33, "channel": 1},
]


# the seeds play at 120 BPM (or have no tempo): 16 bars of 4/4
GRID = Score(meters=(TimeSignature(4, 4),) * 16, tempo=TempoMap.constant(120.0))


def _edited(path: Path):
    return read_edited_midi(path, GRID, TRACKS, 0.9)


@FUZZ
@given(data=MIDI_INPUTS)
def test_read_edited_midi_reads_or_refuses(folder, data: bytes) -> None:
    path = folder / "edited.mid"
    path.write_bytes(data)
    _read_or_refuse("read_edited_midi", path, _edited)


# --- MusicXML --------------------------------------------------------------------------------


def _musicxml_seeds() -> list[bytes]:
    """Our export of a small piece on :data:`GRID` (chords, ties across bar lines, a rest),
    plain and compressed."""
    import tempfile
    import zipfile

    from symbolic_v2m.arrangement import arrange
    from symbolic_v2m.export import write_musicxml

    melody = tuple(Note(6 * i, 10, 60 + i % 12, 79) for i in range(40))
    accompaniment = tuple(Note(16 * b, 24, p, 63) for b in range(15) for p in (36, 43, 52))
    score = replace(GRID, melody=melody, accompaniment=accompaniment).normalised()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "seed.musicxml"
        write_musicxml(arrange(score, "piano"), path)
        plain = path.read_bytes()
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as mxl:
        mxl.writestr(
            "META-INF/container.xml",
            '<container><rootfiles><rootfile full-path="seed.musicxml"/></rootfiles></container>',
        )
        mxl.writestr("seed.musicxml", plain)
    return [plain, archive.getvalue()]


MUSICXML_SEEDS = _musicxml_seeds()
#: values to put where a number belongs: none, negative, zero, huge, not a number
ABSURD = st.sampled_from([b"", b"-1", b"0", b"99999999", b"1e308", b"nan", b"x", b"0.0001"])
#: the elements whose numbers steer the reading (lengths, meters, pitches, tempi, transpositions)
NUMBERS = [b"duration", b"divisions", b"beats", b"beat-type", b"octave", b"alter", b"per-minute",
           b"chromatic", b"octave-change", b"midi-program", b"midi-channel"]  # fmt: skip


@st.composite
def mutated_musicxml(draw) -> bytes:
    data = bytearray(draw(st.sampled_from(MUSICXML_SEEDS)))
    rnd = draw(st.randoms(use_true_random=False))
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["number"] * 4 + ["flip", "cut", "delete", "duplicate"]))
        at = rnd.randrange(0, max(len(data), 1))
        if op == "number" and data[:2] != b"PK":
            tag = draw(st.sampled_from(NUMBERS))
            starts = [i for i in range(len(data)) if data.startswith(b"<" + tag + b">", i)]
            if starts:
                begin = rnd.choice(starts) + len(tag) + 2
                end = data.find(b"<", begin)
                data[begin:end] = draw(ABSURD)
        elif op == "flip" and at < len(data):
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "cut":
            del data[at:]
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 200))]
        elif op == "duplicate":
            data[at:at] = data[at : at + draw(st.integers(1, 400))]
    return bytes(data)


def _edited_musicxml(path: Path):
    tracks = [{**t, "program": 0} for t in TRACKS]  # the seed's piano parts
    return read_edited(path, GRID, tracks, 0.9, expect=MUSICXML)


def test_the_musicxml_seeds_are_read(folder) -> None:
    for i, data in enumerate(MUSICXML_SEEDS):
        path = folder / f"seed{i}.musicxml"
        path.write_bytes(data)
        assert len(_edited_musicxml(path).parts["melody"]) == 40


@settings(FUZZ, max_examples=300)
@given(data=st.one_of(st.binary(max_size=600), mutated_musicxml(), mutated_musicxml()))
def test_read_edited_musicxml_reads_or_refuses(folder, data: bytes) -> None:
    path = folder / "edited.musicxml"
    path.write_bytes(data)
    _read_or_refuse("read_edited_musicxml", path, _edited_musicxml)


# --- project files ---------------------------------------------------------------------------


def _project_doc() -> dict[str, Any]:
    """A small valid project document, built from the real types."""
    meters = (TimeSignature(4, 4), TimeSignature(3, 4), TimeSignature(4, 4))
    score = Score(
        meters=meters,
        tempo=TempoMap(((0, 0.0), (16, 2.0), (44, 5.5))),
        keys=(KeyChange(0, 2, "minor"),),
        chords=(Chord(0, 16, 2, "min", 2), Chord(16, 12, None, "N"), Chord(28, 16, 7, "7", 11)),
        melody=(Note(0, 4, 62, 79), Note(4, 2, 64, 71), Note(20, 8, 69, 95)),
        accompaniment=(Note(0, 16, 38, 63), Note(16, 12, 45, 55), Note(28, 16, 43, 63)),
        phrase_starts=(1,),
    )
    features = VideoFeatures(
        info=VideoInfo(
            "/nowhere/clip.mp4",
            640,
            360,
            0,
            "h264",
            Fraction(30),
            "container",
            5.5,
            165,
            320,
            180,
            False,
        ),
        times=(0.0, 0.5, 1.0),
        flow_speed=(0.0, 0.1, 0.2),
        saliency=(0.0, 0.3, 0.1),
        beats=(VisualBeat(0.5, 15, 1.0),),
        visual_tempo=120.0,
        tempo_confidence=0.5,
        cuts=(Cut(2.0, 60, 0.8),),
        shots=(
            Shot(0.0, 2.0, 0, 60, 0.5, 0.4, 0.3, 0.1, 0.05),
            Shot(2.0, 5.5, 60, 165, 0.4, 0.4, 0.3, 0.1, 0.2),
        ),
    ).to_dict()
    score_dict = score_to_dict(score)
    project = Project(
        video={"path": "/nowhere/clip.mp4", "name": "clip.mp4", "size": 1000, "sha256": "ab" * 32},
        options={"style": "cinematic", "seed": 1},
        features=features,
        timeline={
            "tempo": score_dict["tempo"],
            "meters": score_dict["meters"],
            "density": {"melody": [2, 1, 1], "accompaniment": [1, 2, 1], "chord": [1, 1, 1]},
            "strength": [[0, 1], [16, 1]],
            "mood": {"velocity_scale": 0.9},
        },
        score=score_dict,
        models={"representation": "x"},
        seeds={"chord": 1000, "melody": 1001, "accompaniment": 1002},
        outputs={"midi": "clip.mid"},
        tracks=TRACKS,
        history=[
            {
                "action": "regenerate",
                "bars": [1, 2],
                "stages": ["melody"],
                "seed": 3,
                "previous_score": score_dict,
            }
        ],
    )
    return json.loads(project.to_json())


DOC = _project_doc()


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every place in a JSON value (the value itself too), as key / index tuples."""
    out = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out += _paths(item, (*prefix, index))
    return out


PATHS = [p for p in _paths(DOC) if p]
JSON_VALUES = (
    st.sampled_from(
        [
            None,
            True,
            False,
            0,
            -1,
            1,
            11,
            12,
            127,
            128,
            200,
            -(2**31),
            2**63,
            10**30,
            0.5,
            -0.0,
            1e308,
            math.nan,
            math.inf,
            -math.inf,
            "",
            "x",
            "4/0",
            "0/4",
            "N",
            "1/0",
            [],
            {},
            [1, 2],
            [[0, 0.0]],
            {"a": 1},
        ]
    )
    | st.integers()
    | st.floats()
    | st.text(max_size=8)
)


def _parent(doc: Any, path: tuple) -> Any:
    for key in path[:-1]:
        doc = doc[key]
    return doc


@st.composite
def mutated_project(draw) -> bytes:
    doc = json.loads(json.dumps(DOC))  # a deep copy
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["delete", "swap", "number", "grow"]))
        path = draw(st.sampled_from(PATHS))
        try:
            parent = _parent(doc, path)
            current = parent[path[-1]]
        except (KeyError, IndexError, TypeError):  # an earlier mutation removed the place
            continue
        if op == "delete":
            del parent[path[-1]]
        elif op == "swap":
            parent[path[-1]] = draw(JSON_VALUES)
        elif op == "number" and isinstance(current, (int, float)) and not isinstance(current, bool):
            change = draw(st.sampled_from(["negate", "huge", "shift", "float", "nan"]))
            parent[path[-1]] = {
                "negate": -current - 1,
                "huge": current + 10 ** draw(st.integers(3, 40)),
                "shift": current + draw(st.integers(-200, 200)),
                "float": current + 0.5,
                "nan": math.nan,
            }[change]
        elif op == "grow" and isinstance(current, list) and current:
            current.append(current[draw(st.integers(0, len(current) - 1))])
    text = json.dumps(doc)
    raw = draw(st.sampled_from(["as is"] * 8 + ["cut", "flip"]))
    if raw == "cut":
        text = text[: draw(st.integers(0, len(text)))]
    elif raw == "flip":
        data = bytearray(text.encode())
        data[draw(st.integers(0, len(data) - 1))] ^= 1 << draw(st.integers(0, 7))
        return bytes(data)
    return text.encode()


def test_the_project_seed_is_valid(folder) -> None:
    path = folder / "seed.v2m.json"
    path.write_text(json.dumps(DOC))
    assert load_project(path).music().n_bars == 3


@FUZZ
@given(data=st.one_of(RANDOM_BYTES, *[mutated_project()] * 3))
def test_load_project_reads_or_refuses(folder, data: bytes) -> None:
    path = folder / "fuzz.v2m.json"
    path.write_bytes(data)
    _read_or_refuse("load_project", path, load_project)
