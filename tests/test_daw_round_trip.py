"""The DAW round trip through MuseScore 3 itself, as the user guide describes it.

A short synthetic clip of uneven shots is composed once with the shipped models: its tempo
changes at every cut by fractions of a BPM (128.57 BPM among them), which MuseScore rounds to
whole BPM, and it ends on a 2/4 bar. MuseScore re-saves the MIDI as MIDI, and the MusicXML as
MIDI and as MusicXML (and the MIDI as MusicXML); one melody note outside the regenerated bars is
changed in each re-saved file, and the accompaniment of bars 9-12 is regenerated from it.

The MIDI edits go through mido. The MusicXML edit changes one ``<octave>`` of the file MuseScore
wrote, so that the rest of the file stays MuseScore's own (music21 would write a file of its
own). What the edited file holds is read here without the program's readers: MIDI with mido,
MusicXML element by element; MuseScore's own MIDI of a MusicXML is checked to play nothing that
this reading misses.

Without ``mscore3`` on PATH the MuseScore tests are skipped; the refusals run without it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

import mido
import pytest

from symbolic_v2m.cli import main
from symbolic_v2m.compose import ComposeConfig, compose
from symbolic_v2m.music.vocab import DURATIONS, stage_spec
from symbolic_v2m.project import load_project
from symbolic_v2m.video.synthetic import SyntheticShot, write_synthetic_clip

pytestmark = pytest.mark.slow

MSCORE = shutil.which("mscore3")
needs_musescore = pytest.mark.skipif(
    MSCORE is None, reason="mscore3 not on PATH (make setup installs Debian's musescore3)"
)
SPAN = (9, 12)  # the bars regenerated, as in the issue
EDITED_BAR = 3  # the bar of the melody note the "user" changes


@pytest.fixture(scope="module")
def composition(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """MIDI, MusicXML and project file of a 24-second clip of eight uneven shots."""
    lengths = (2.3, 3.1, 2.7, 3.4, 2.9, 3.6, 3.2, 2.8)
    speeds = (0.05, 0.4, 0.15, 0.6, 0.02, 0.3, 0.5, 0.1)
    shots = [
        SyntheticShot(length, speed=speed, direction=50.0 * i, seed=7 + i)
        for i, (length, speed) in enumerate(zip(lengths, speeds, strict=True))
    ]
    out = tmp_path_factory.mktemp("round_trip")
    clip = write_synthetic_clip(out / "uneven.mp4", shots)
    config = ComposeConfig(outputs=("midi", "musicxml", "project"), seed=1, candidates=1)
    result = compose(clip.path, out, config)
    assert len(result.timeline.meters) >= SPAN[1] + 1, "the clip must outlast the span"
    tempi = [qpm for _, qpm in result.timeline.tempo.tempo_changes()]
    assert any(abs(qpm - round(qpm)) > 0.05 for qpm in tempi), "MuseScore must round something"
    return out


@pytest.fixture
def work(composition: Path, tmp_path: Path) -> Path:
    """A private copy of the composition (regeneration rewrites it); returns its project."""
    copy = tmp_path / "work"
    shutil.copytree(composition, copy)
    return copy / "uneven.v2m.json"


def _musescore(source: Path, target: Path) -> Path:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run(
        [MSCORE, "-o", str(target), str(source)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert target.is_file(), f"MuseScore did not convert {source}: {done.stderr[-500:]}"
    return target


def _grid_notes(midi_path: Path) -> dict[int, dict[tuple[int, int], tuple[int, int]]]:
    """Per channel, ``(onset, pitch) -> (duration, velocity)`` on a 16th grid, from the file's
    own ticks: a note ends at the next note-off of its pitch and channel."""
    midi = mido.MidiFile(midi_path)
    tpb = midi.ticks_per_beat
    notes: dict[int, dict[tuple[int, int], tuple[int, int]]] = defaultdict(dict)
    for track in midi.tracks:
        tick, sounding = 0, {}
        for msg in track:
            tick += msg.time
            if msg.type == "note_on" and msg.velocity > 0:
                sounding.setdefault((msg.channel, msg.note), []).append((tick, msg.velocity))
            elif msg.type in ("note_on", "note_off"):
                for start, velocity in sounding.pop((msg.channel, msg.note), []):
                    onset = round(start * 4 / tpb)
                    span = max(1, round(tick * 4 / tpb) - onset)
                    duration = min(DURATIONS, key=lambda d: abs(d - span))
                    notes[msg.channel][(onset, msg.note)] = (duration, velocity)
    return notes


STEPS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}


def _xml_notes(path: Path) -> dict[int, dict[tuple[int, int], tuple[int, None]]]:
    """Per MIDI channel, ``(onset, pitch) -> (duration, None)`` on a 16th grid, read from the
    MusicXML's elements themselves (no music21): a cursor in divisions that notes, ``<backup>``
    and ``<forward>`` move, chord notes at the previous note's start, ties joined pitch by pitch,
    measures as long as their time signature. Untransposed parts only (ours are)."""
    root = ET.parse(path).getroot()
    channels = {
        sp.get("id"): int(sp.findtext("midi-instrument/midi-channel") or 0) - 1
        for sp in root.iter("score-part")
    }
    notes: dict[int, dict[tuple[int, int], tuple[int, None]]] = defaultdict(dict)
    for part in root.iter("part"):
        divisions, bar_start, beats, beat_type = 1, 0.0, 4, 4
        events = []  # (start, order, pitch, length, tie types), in quarter notes
        sounding: dict[int, list[float]] = {}  # pitch -> [start, end]
        done = []
        for measure in part.findall("measure"):
            cursor, last_start = 0, 0
            for element in measure:
                if element.tag == "attributes":
                    divisions = int(element.findtext("divisions") or divisions)
                    beats = int(element.findtext("time/beats") or beats)
                    beat_type = int(element.findtext("time/beat-type") or beat_type)
                elif element.tag in ("backup", "forward"):
                    step = int(element.findtext("duration"))
                    cursor += step if element.tag == "forward" else -step
                elif element.tag == "note" and element.find("grace") is None:
                    length = int(element.findtext("duration") or 0)
                    start = last_start if element.find("chord") is not None else cursor
                    if element.find("chord") is None:
                        last_start, cursor = cursor, cursor + length
                    if element.find("pitch") is None:
                        continue  # a rest
                    pitch = (
                        12 * (int(element.findtext("pitch/octave")) + 1)
                        + STEPS[element.findtext("pitch/step")]
                        + int(float(element.findtext("pitch/alter") or 0))
                    )
                    ties = {t.get("type") for t in element.findall("tie")}
                    at = bar_start + start / divisions
                    events.append((at, len(events), pitch, length / divisions, ties))
            bar_start += 4 * beats / beat_type
        # voices follow one another in the file: join ties in time order
        for at, _, pitch, length, ties in sorted(events):
            held = sounding.get(pitch)
            if held is not None and "stop" in ties and abs(held[1] - at) < 1e-9:
                held[1] = at + length
            else:
                if held is not None:
                    done.append((pitch, *held))
                held = sounding[pitch] = [at, at + length]
            if "start" not in ties:
                done.append((pitch, *sounding.pop(pitch)))
        done += [(pitch, *held) for pitch, held in sounding.items()]
        channel = channels[part.get("id")]
        for pitch, start, end in done:
            onset = round(start * 4)
            span = max(1, round(end * 4) - onset)
            duration = min(DURATIONS, key=lambda d: abs(d - span))
            notes[channel][(onset, pitch)] = (duration, None)
    return notes


def _bar_ticks(project: Path) -> list[int]:
    score = load_project(project).music()
    return [bar.start for bar in score.bars()] + [score.length]


def _edit_midi(source: Path, target: Path, project: Path) -> None:
    """One melody note (channel 1) of bar :data:`EDITED_BAR` a semitone higher."""
    midi = mido.MidiFile(source)
    starts = _bar_ticks(project)
    scale = midi.ticks_per_beat // 4
    lo, hi = starts[EDITED_BAR - 1] * scale, starts[EDITED_BAR] * scale
    taken = set(_grid_notes(source)[0])
    for track in midi.tracks:
        tick, target_note = 0, None
        for msg in track:
            tick += msg.time
            if msg.type not in ("note_on", "note_off") or msg.channel != 0:
                continue
            if target_note is None and msg.type == "note_on" and msg.velocity and lo <= tick < hi:
                if (round(tick / scale), msg.note + 1) not in taken:
                    target_note = msg.note
                    msg.note += 1
            elif target_note is not None and msg.note == target_note:
                msg.note += 1  # its note-off
                midi.save(target)
                return
    raise AssertionError(f"no melody note to edit in bar {EDITED_BAR}")


def _edit_musicxml(source: Path, target: Path) -> None:
    """One lone, untied melody note of bar :data:`EDITED_BAR` an octave higher."""
    tree = ET.parse(source)
    root = tree.getroot()
    # our name, or MuseScore's for a part it imported from MIDI ("Strings 1, Melody")
    names = {p.get("id"): p.findtext("part-name") or "" for p in root.iter("score-part")}
    ids = [i for i, name in names.items() if name.rpartition(", ")[2] == "Melody"]
    part = next(p for p in root.iter("part") if p.get("id") == ids[0])
    measure = part.findall("measure")[EDITED_BAR - 1]
    notes = measure.findall("note")
    for i, note in enumerate(notes):
        lone = note.find("chord") is None and (
            i + 1 == len(notes) or notes[i + 1].find("chord") is None
        )
        if note.find("pitch") is not None and note.find("tie") is None and lone:
            octave = note.find("pitch/octave")
            octave.text = str(int(octave.text) + 1)
            tree.write(target, encoding="UTF-8", xml_declaration=True)
            return
    raise AssertionError(f"no lone melody note to edit in bar {EDITED_BAR}")


def _tempo_events(midi_path: Path) -> list[tuple[int, int]]:
    midi = mido.MidiFile(midi_path)
    events, tick = [], 0
    for msg in midi.tracks[0]:
        tick += msg.time
        if msg.type == "set_tempo":
            events.append((tick, msg.tempo))
    return events


CASES = {
    # name: (what MuseScore re-saves, the format it saves, the option that brings it back)
    "MIDI re-saved as MIDI": ("mid", "mid", "--from-midi"),
    "MusicXML re-saved as MIDI": ("musicxml", "mid", "--from-midi"),
    "MusicXML re-saved as MusicXML": ("musicxml", "musicxml", "--from-musicxml"),
    # MuseScore's own parts: "Strings 1, Melody", the piano on two staves, a drum set
    "MIDI re-saved as MusicXML": ("mid", "musicxml", "--from-musicxml"),
}


@needs_musescore
@pytest.mark.parametrize("case", list(CASES))
def test_a_musescore_resave_comes_back_with_its_edit(work, tmp_path, capsys, case) -> None:
    source_kind, saved_kind, option = CASES[case]
    exported = work.with_suffix("").with_suffix(f".{source_kind}")
    original_midi = work.with_suffix("").with_suffix(".mid")
    original_tempo = _tempo_events(original_midi)
    before = load_project(work).music()
    resaved = _musescore(exported, tmp_path / f"resaved.{saved_kind}")
    edited = tmp_path / f"edited.{saved_kind}"
    if saved_kind == "mid":
        _edit_midi(resaved, edited, work)
        unedited_notes, edited_notes = _grid_notes(resaved), _grid_notes(edited)
    else:
        _edit_musicxml(resaved, edited)
        unedited_notes, edited_notes = _xml_notes(resaved), _xml_notes(edited)
        # MuseScore's own MIDI of it plays no note that this reading misses (it may play fewer:
        # of two overlapping notes of one pitch, its MIDI export can leave one out)
        played = _grid_notes(_musescore(edited, tmp_path / "played.mid"))
        for channel in (0, 1):
            assert set(played[channel]) <= set(edited_notes[channel]), channel
    changed = set(edited_notes[0]) - set(unedited_notes[0])
    assert len(changed) == 1 and len(set(unedited_notes[0]) - set(edited_notes[0])) == 1
    capsys.readouterr()

    code = main(
        ["regenerate", str(work), option, str(edited), "--stage", "accompaniment",
         "--bars", f"{SPAN[0]}-{SPAN[1]}", "--only", "midi"]
    )  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0, err
    (drift,) = [line for line in out.splitlines() if "read by bar and beat" in line]
    assert "ms at most" in drift

    after = load_project(work).music()
    scale = load_project(work).timeline["mood"]["velocity_scale"]
    velocities = stage_spec("melody").family("velocity").values
    lo, hi = _bar_ticks(work)[SPAN[0] - 1], _bar_ticks(work)[SPAN[1]]
    for role, channel in (("melody", 0), ("accompaniment", 1)):
        # the melody is kept whole; the accompaniment outside the span
        def kept(onset: int, role: str = role) -> bool:
            return role == "melody" or not lo <= onset < hi

        outside = {(n.onset, n.pitch): n for n in getattr(after, role) if kept(n.onset)}
        expected = {key: v for key, v in edited_notes[channel].items() if kept(key[0])}
        # every note outside the span is the edited file's, on the grid: place, pitch, duration
        assert set(outside) == set(expected), (role, set(outside) ^ set(expected))
        for key, (duration, velocity) in expected.items():
            assert outside[key].duration == duration, (role, key)
            if saved_kind == "mid":  # MusicXML carries no velocities
                wanted = min(velocities, key=lambda v: abs(v - velocity / scale))
                assert outside[key].velocity == wanted, (role, key)
    assert changed <= {(n.onset, n.pitch) for n in after.melody}  # the edit is kept
    # the regenerated span is new music; the tempo map is the composition's, exactly
    inside = [n for n in after.accompaniment if lo <= n.onset < hi]
    assert inside and inside != [n for n in before.accompaniment if lo <= n.onset < hi]
    assert after.tempo == before.tempo and after.meters == before.meters
    assert _tempo_events(original_midi) == original_tempo


# -- structure that truly differs ---------------------------------------------------------------


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _refused(project: Path, option: str, edited: Path, capsys) -> str:
    before = _snapshot(project.parent)
    capsys.readouterr()
    code = main(["regenerate", str(project), option, str(edited), "--stage", "accompaniment",
                 "--bars", f"{SPAN[0]}-{SPAN[1]}", "--only", "midi"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1
    assert len(err.strip().splitlines()) == 1 and err.startswith(f"error: {edited}: ")
    assert _snapshot(project.parent) == before  # nothing written
    return err


def test_a_deleted_bar_is_refused_naming_it(work, tmp_path, capsys) -> None:
    midi = mido.MidiFile(work.with_suffix("").with_suffix(".mid"))
    starts = [t * midi.ticks_per_beat // 4 for t in _bar_ticks(work)]
    start, end = starts[5], starts[6]  # bar 6, as a DAW's "delete bar" does it
    for track in midi.tracks:
        tick, events = 0, []
        for msg in track:
            tick += msg.time
            if start <= tick < end and msg.type == "note_on" and msg.velocity > 0:
                continue
            events.append((tick if tick < start else max(start, tick - (end - start)), msg))
        now = 0
        track[:] = []
        for tick, msg in events:
            track.append(msg.copy(time=tick - now))
            now = tick
    edited = tmp_path / "deleted.mid"
    midi.save(edited)
    err = _refused(work, "--from-midi", edited, capsys)
    assert "its bars differ from the composition's from bar 6 on" in err
    assert "bar 6 of the composition is not in it" in err


def test_a_changed_meter_is_refused_naming_the_bar(work, tmp_path, capsys) -> None:
    tree = ET.parse(work.with_suffix("").with_suffix(".musicxml"))
    for part in tree.getroot().iter("part"):
        measures = part.findall("measure")
        for index, beats in ((6, "3"), (7, "4")):  # bar 7 in 3/4, bar 8 in 4/4 again
            attributes = measures[index].find("attributes")
            if attributes is None:
                attributes = ET.Element("attributes")
                measures[index].insert(0, attributes)
            for old in attributes.findall("time"):
                attributes.remove(old)
            time = ET.SubElement(attributes, "time")
            ET.SubElement(time, "beats").text = beats
            ET.SubElement(time, "beat-type").text = "4"
    edited = tmp_path / "three.musicxml"
    tree.write(edited, encoding="UTF-8", xml_declaration=True)
    err = _refused(work, "--from-musicxml", edited, capsys)
    assert "from bar 7 on (bar 7 is 3/4 in it, 4/4 in the composition)" in err
