"""Export: MIDI, MusicXML, WAV and MP4 of a small arrangement built here (no external data)."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import mido
import music21
import numpy as np
import pretty_midi
import pytest
from scipy.io import wavfile

from symbolic_v2m.arrangement import DRUM_CHANNEL, Arrangement, Marker, Track
from symbolic_v2m.errors import Cancelled, ExportError, MissingPartError, V2MError
from symbolic_v2m.export import audio as audio_module
from symbolic_v2m.export import (
    find_soundfont,
    mux_audio,
    render_wav,
    write_midi,
    write_musicxml,
)
from symbolic_v2m.export import video as video_module
from symbolic_v2m.export.midi import MIDI_TICKS_PER_QUARTER
from symbolic_v2m.music.score import KeyChange, Note, Score, TempoMap, TimeSignature

SCALE = MIDI_TICKS_PER_QUARTER // 4  # MIDI ticks per score tick

# 4/4 4/4 | 3/4 | 4/4 4/4: bars start at ticks 0, 16, 32, 44, 60; the score ends at 76
METERS = (TimeSignature(4, 4),) * 2 + (TimeSignature(3, 4),) + (TimeSignature(4, 4),) * 2
# 8 beats in 4 s (120 qpm), then 16 beats in 12 s (80 qpm): the change is on bar 3
TEMPO = TempoMap(((0, 0.0), (32, 4.0), (96, 16.0)))
SCORE_SECONDS = 4.0 + 44 * 60.0 / 80 / 4  # 12.25 s


def _arrangement() -> Arrangement:
    score = Score(METERS, TEMPO, keys=(KeyChange(0, 0, "major"), KeyChange(32, 9, "minor")))
    melody = tuple(Note(t, 4, 72 + (t // 4) % 5, 90) for t in range(0, 68, 4))
    melody += (Note(68, 8, 69, 100),)  # the last note ends with the score
    chords = {0: (48, 52, 55), 16: (48, 53, 57), 32: (45, 48, 52), 44: (45, 50, 53)}
    piano = tuple(Note(t, 16 if t != 32 else 12, p, 70) for t, ps in chords.items() for p in ps)
    piano += tuple(Note(60, 16, p, 64) for p in (45, 48, 52))
    piano += (Note(0, 24, 36, 60),)  # a low C held over the bar line and into the next chord
    drums = tuple(
        Note(t, 1, 36 if t % 16 == 0 else 38 if t % 8 == 4 else 42, 90) for t in range(0, 76, 2)
    )
    tracks = (
        Track("Melody", "melody", 73, 0, melody),
        Track("Piano", "accompaniment", 0, 1, piano),
        Track("Drums", "percussion", 0, DRUM_CHANNEL, drums),
    )
    markers = (Marker(32, "Cut 1 — 00:04.00"), Marker(32, "Section 2"))
    return Arrangement(score, tracks, markers, title="Test piece")


@pytest.fixture(scope="module")
def arrangement() -> Arrangement:
    return _arrangement()


@pytest.fixture(scope="module")
def midi_file(arrangement: Arrangement, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("midi") / "piece.mid"
    write_midi(arrangement, path)
    return path


def _meta(path: Path, kind: str) -> list[tuple[int, mido.MetaMessage]]:
    """(absolute MIDI tick, message) of every meta message of one type in the conductor track."""
    midi = mido.MidiFile(path, charset="utf-8")
    now, found = 0, []
    for message in midi.tracks[0]:
        now += message.time
        if message.type == kind:
            found.append((now, message))
    return found


# -- MIDI ------------------------------------------------------------------------------------


def test_midi_has_one_named_track_per_part_with_program_and_drums(midi_file: Path) -> None:
    midi = pretty_midi.PrettyMIDI(str(midi_file))
    got = [(i.name, i.program, i.is_drum, len(i.notes)) for i in midi.instruments]
    assert got == [("Melody", 73, False, 18), ("Piano", 0, False, 16), ("Drums", 0, True, 38)]
    raw = mido.MidiFile(midi_file)
    assert raw.type == 1 and raw.ticks_per_beat == 480 and len(raw.tracks) == 4
    channels = [{m.channel for m in t if not m.is_meta} for t in raw.tracks[1:]]
    assert channels == [{0}, {1}, {DRUM_CHANNEL}]
    programs = [m for m in raw.tracks[3] if m.type == "program_change"]
    assert programs == []  # the GM drum kit needs no program change


def test_every_note_sounds_where_the_tempo_map_puts_it(arrangement, midi_file) -> None:
    midi = pretty_midi.PrettyMIDI(str(midi_file))
    score = arrangement.score
    for track, instrument in zip(arrangement.tracks, midi.instruments, strict=True):
        expected = sorted(
            (score.seconds(n.onset), score.seconds(n.offset), n.pitch, n.velocity)
            for n in track.notes
        )
        got = sorted((n.start, n.end, n.pitch, n.velocity) for n in instrument.notes)
        for (start, end, *rest), (x_start, x_end, *x_rest) in zip(got, expected, strict=True):
            assert rest == x_rest  # pitch, velocity
            assert start == pytest.approx(x_start, abs=1e-3)
            assert end == pytest.approx(x_end, abs=1e-3)
    assert mido.MidiFile(midi_file).length == pytest.approx(SCORE_SECONDS, abs=1e-3)


def test_tempo_changes_match_the_tempo_map(midi_file: Path) -> None:
    times, tempi = pretty_midi.PrettyMIDI(str(midi_file)).get_tempo_changes()
    assert times.tolist() == pytest.approx([0.0, 4.0])
    assert tempi.tolist() == pytest.approx([120.0, 80.0])
    assert [(t, m.tempo) for t, m in _meta(midi_file, "set_tempo")] == [
        (0, 500_000),
        (32 * SCALE, 750_000),
    ]


def test_conductor_track_has_title_markers_meters_and_keys(midi_file: Path) -> None:
    assert [m.name for _, m in _meta(midi_file, "track_name")] == ["Test piece"]
    markers = [(t, m.text) for t, m in _meta(midi_file, "marker")]
    assert markers == [(32 * SCALE, "Cut 1 — 00:04.00"), (32 * SCALE, "Section 2")]
    meters = [(t, m.numerator, m.denominator) for t, m in _meta(midi_file, "time_signature")]
    assert meters == [(0, 4, 4), (32 * SCALE, 3, 4), (44 * SCALE, 4, 4)]
    keys = [(t, m.key) for t, m in _meta(midi_file, "key_signature")]
    assert keys == [(0, "C"), (32 * SCALE, "Am")]
    midi = pretty_midi.PrettyMIDI(str(midi_file))
    assert [(k.key_number, k.time) for k in midi.key_signature_changes] == [(0, 0.0), (21, 4.0)]


def test_music21_reads_the_midi(midi_file: Path) -> None:
    parsed = music21.converter.parse(midi_file)
    assert [p.partName for p in parsed.parts] == ["Melody", "Piano", "Drums"]
    first_part = parsed.parts[0].recurse()
    assert [str(ts) for ts in first_part.getElementsByClass("TimeSignature")][:3] == [
        "<music21.meter.TimeSignature 4/4>",
        "<music21.meter.TimeSignature 3/4>",
        "<music21.meter.TimeSignature 4/4>",
    ]


def test_same_bytes_every_time(arrangement: Arrangement, midi_file: Path, tmp_path: Path) -> None:
    again = tmp_path / "again.mid"
    write_midi(arrangement, again)
    write_midi(_arrangement(), tmp_path / "rebuilt.mid")
    assert again.read_bytes() == midi_file.read_bytes()
    assert (tmp_path / "rebuilt.mid").read_bytes() == midi_file.read_bytes()


def test_same_pitch_overlap_ends_the_earlier_note_first(arrangement, tmp_path) -> None:
    # 60 over 0-8 and again over 4-12 (twice, the shorter copy is dropped); 64 is untouched
    notes = (Note(0, 8, 60), Note(4, 8, 60), Note(4, 2, 60, 50), Note(0, 16, 64))
    track = Track("Piano", "accompaniment", 0, 1, notes)
    path = tmp_path / "overlap.mid"
    write_midi(dataclasses.replace(arrangement, tracks=(track,), markers=()), path)
    events, now = [], 0
    for message in mido.MidiFile(path).tracks[1]:
        now += message.time
        if message.type in ("note_on", "note_off") and message.note == 60:
            events.append((now // SCALE, message.type))
    assert events == [(0, "note_on"), (4, "note_off"), (4, "note_on"), (12, "note_off")]
    played = pretty_midi.PrettyMIDI(str(path)).instruments[0].notes
    spans = sorted((round(n.start, 3), round(n.end, 3), n.pitch, n.velocity) for n in played)
    assert spans == [(0.0, 0.5, 60, 80), (0.0, 2.0, 64, 80), (0.5, 1.5, 60, 80)]


def test_tracks_sharing_a_channel_are_refused(arrangement: Arrangement, tmp_path: Path) -> None:
    melody, piano, drums = arrangement.tracks
    clash = dataclasses.replace(arrangement, tracks=(melody, dataclasses.replace(piano, channel=0)))
    with pytest.raises(ValueError, match="'Melody' and 'Piano' share MIDI channel 0"):
        write_midi(clash, tmp_path / "clash.mid")
    assert not (tmp_path / "clash.mid").exists()
    two_kits = dataclasses.replace(arrangement, tracks=(melody, drums, drums))
    write_midi(two_kits, tmp_path / "kits.mid")  # drum tracks all belong on channel 10


def test_tick_zero_must_be_at_zero_seconds(arrangement: Arrangement, tmp_path: Path) -> None:
    late = dataclasses.replace(arrangement.score, tempo=TempoMap(((0, 1.5), (4, 2.0))))
    with pytest.raises(ValueError, match="tick 0 at 0 s.*1.500 s"):
        write_midi(dataclasses.replace(arrangement, score=late), tmp_path / "late.mid")


def test_failed_write_leaves_the_previous_file(arrangement, tmp_path, monkeypatch) -> None:
    path = tmp_path / "piece.mid"
    path.write_bytes(b"keep me")

    def save_half_then_fail(self: mido.MidiFile, filename: str) -> None:
        Path(filename).write_bytes(b"MThd half")
        raise OSError("disk full")

    monkeypatch.setattr(mido.MidiFile, "save", save_half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        write_midi(arrangement, path)
    assert path.read_bytes() == b"keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["piece.mid"]  # no partial file
    monkeypatch.undo()
    write_midi(arrangement, path)
    assert path.read_bytes()[:4] == b"MThd"


# -- MusicXML --------------------------------------------------------------------------------


def test_musicxml_reparses_with_named_parts_meters_keys_and_tempo(arrangement, tmp_path) -> None:
    path = tmp_path / "piece.musicxml"
    write_musicxml(arrangement, path)
    parsed = music21.converter.parse(path)
    assert parsed.metadata.bestTitle == "Test piece"
    # the drum track is left out on purpose (see symbolic_v2m/export/musicxml.py); the piano is
    # a grand staff, which music21 reads as one PartStaff per staff
    assert [p.partName for p in parsed.parts] == ["Melody", "Piano", "Piano"]
    assert [type(p.getInstrument()).__name__ for p in parsed.parts] == ["Flute", "Piano", "Piano"]
    length = arrangement.score.length / 4
    assert parsed.highestTime == length
    assert all(p.highestTime == length for p in parsed.parts)
    for part in parsed.parts:
        measures = part.getElementsByClass("Measure")
        assert [m.barDuration.quarterLength for m in measures] == [4, 4, 3, 4, 4]
        keys = part.recurse().getElementsByClass("KeySignature")
        assert [(k.getOffsetInHierarchy(part), str(k)) for k in keys] == [
            (0.0, "C major"),
            (8.0, "a minor"),
        ]
    marks = parsed.recurse().getElementsByClass("MetronomeMark")
    assert [(m.getOffsetInHierarchy(parsed.parts[0]), m.number) for m in marks] == [
        (0.0, 120),
        (8.0, 80),
    ]
    assert not any(n.isChord for n in parsed.parts[0].recurse().notes)  # a melody stays notes
    piano = parsed.parts[2].getElementsByClass("Measure")  # the lower staff: all notes < C4
    # the held low C is one note in a voice of its own, tied over the bar line, under chords
    # that are struck and held without ties
    ties = [
        [(n.pitch.midi, n.tie.type if n.tie else None) for n in (e.notes if e.isChord else [e])]
        for e in (*piano[0].recurse().notes, *piano[1].recurse().notes)
    ]
    assert ties == [
        [(48, None), (52, None), (55, None)],
        [(36, "start")],
        [(48, None), (53, None), (57, None)],
        [(36, "stop")],
    ]
    # the 3/4 bar's piano chord lasts to the bar line; the next starts on it
    assert [c.quarterLength for c in piano[2].notes] == [3.0]


def test_a_tempo_on_every_beat_gives_a_mark_only_when_the_rounded_bpm_changes(
    arrangement: Arrangement, tmp_path: Path
) -> None:
    # POP909-like: one anchor per beat, wobbling around 100 BPM, then around 90 from bar 3
    beats, seconds = [], 0.0
    for beat in range(20):
        beats.append((4 * beat, seconds))
        seconds += 60.0 / ((100 if beat < 8 else 90) + (0.2 if beat % 2 else -0.2))
    score = dataclasses.replace(arrangement.score, tempo=TempoMap(tuple(beats)))
    path = tmp_path / "measured.musicxml"
    write_musicxml(dataclasses.replace(arrangement, score=score), path)
    parsed = music21.converter.parse(path)
    marks = parsed.recurse().getElementsByClass("MetronomeMark")
    assert [(m.getOffsetInHierarchy(parsed.parts[0]), m.number) for m in marks] == [
        (0.0, 100),
        (8.0, 90),
    ]


# -- audio -----------------------------------------------------------------------------------


def test_render_wav_covers_the_piece_with_sound(midi_file: Path, tmp_path: Path) -> None:
    wav = tmp_path / "piece.wav"
    assert render_wav(midi_file, wav) == wav
    rate, samples = wavfile.read(wav)
    assert rate == 44100 and samples.dtype == np.int16
    duration = samples.shape[0] / rate
    assert duration == pytest.approx(SCORE_SECONDS + audio_module.RELEASE_TAIL, abs=0.5)
    level = samples.astype(np.float64) / 32768
    assert np.sqrt(np.mean(level**2)) > 0.01
    assert 20 * np.log10(np.abs(level).max()) == pytest.approx(-1.0, abs=0.1)
    assert not list(tmp_path.glob(".*partial*"))


def test_a_soundfont_that_is_not_there_is_a_missing_part(midi_file, tmp_path) -> None:
    with pytest.raises(MissingPartError, match="nope.sf2 not found.*apt-get install"):
        render_wav(midi_file, tmp_path / "x.wav", soundfont=tmp_path / "nope.sf2")
    assert not list(tmp_path.iterdir())


def test_soundfont_resolution_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mine, theirs = tmp_path / "mine.sf2", tmp_path / "theirs.sf3"
    mine.write_bytes(b"x")
    theirs.write_bytes(b"x")
    monkeypatch.setenv(audio_module.SOUNDFONT_ENV, str(theirs))
    assert find_soundfont(mine) == mine
    assert find_soundfont() == theirs
    monkeypatch.setenv(audio_module.SOUNDFONT_ENV, str(tmp_path / "gone.sf2"))
    with pytest.raises(MissingPartError, match="SYMBOLIC_V2M_SOUNDFONT"):
        find_soundfont()
    monkeypatch.delenv(audio_module.SOUNDFONT_ENV)
    monkeypatch.setattr(audio_module, "SYSTEM_SOUNDFONTS", (tmp_path / "no.sf3", theirs))
    assert find_soundfont() == theirs
    monkeypatch.setattr(audio_module, "SYSTEM_SOUNDFONTS", ())
    bundled = find_soundfont()
    assert bundled.name == "TimGM6mb.sf2" and bundled.parent.name == "pretty_midi"
    monkeypatch.setattr(audio_module, "_pretty_midi_soundfont", lambda: None)
    with pytest.raises(MissingPartError, match="no General MIDI soundfont found"):
        find_soundfont()


def test_no_fluidsynth_library_is_a_missing_part(midi_file, tmp_path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "fluidsynth", None)  # the import now fails
    with pytest.raises(MissingPartError, match="FluidSynth library.*apt-get install fluidsynth"):
        render_wav(midi_file, tmp_path / "x.wav")
    assert not list(tmp_path.iterdir())


# -- video -----------------------------------------------------------------------------------


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True)


def _streams(path: Path) -> list[dict]:
    result = subprocess.run(
        ["ffprobe", "-v", "error", "-count_packets", "-show_entries",
         "stream=codec_type,codec_name,nb_read_packets:format=duration", "-of", "json", str(path)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    info = json.loads(result.stdout)
    return [{**s, "duration": float(info["format"]["duration"])} for s in info["streams"]]


def _audio_rms(path: Path) -> float:
    """RMS of the decoded soundtrack (mono, float)."""
    samples = _decoded_audio(path)
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2)))


def _decoded_audio(path: Path) -> np.ndarray:
    """The soundtrack decoded to mono float samples (-1..1) at its own rate."""
    raw = subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-map", "0:a:0", "-ac", "1",
         "-f", "f32le", "-"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    return np.frombuffer(raw, dtype=np.float32)


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """3-second 160x120 test pictures at 25 fps (75 frames), without and with a 440 Hz tone."""
    root = tmp_path_factory.mktemp("clips")
    silent, toned = root / "silent.mp4", root / "toned.mp4"
    picture = ["-f", "lavfi", "-i", "testsrc=duration=3:size=160x120:rate=25"]
    _ffmpeg(*picture, "-c:v", "libx264", "-pix_fmt", "yuv420p", str(silent))
    _ffmpeg(*picture, "-f", "lavfi", "-i", "sine=frequency=440:duration=3",
            "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", str(toned))  # fmt: skip
    silence = root / "silence.wav"
    wavfile.write(silence, 44100, np.zeros(44100 * 5, dtype=np.int16))
    return {"silent": silent, "toned": toned, "silence": silence}


@pytest.fixture(scope="module")
def music_wav(midi_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render_wav(midi_file, tmp_path_factory.mktemp("wav") / "music.wav")


def test_mux_copies_the_picture_and_adds_aac_music(clips, music_wav, tmp_path) -> None:
    out = tmp_path / "out" / "clip.mp4"
    mux_audio(clips["silent"], music_wav, out)
    source, muxed = _streams(clips["silent"]), _streams(out)
    videos = [s for s in muxed if s["codec_type"] == "video"]
    audios = [s for s in muxed if s["codec_type"] == "audio"]
    assert len(videos) == 1 and len(audios) == 1
    assert videos[0]["codec_name"] == source[0]["codec_name"] == "h264"
    assert videos[0]["nb_read_packets"] == source[0]["nb_read_packets"] == "75"
    assert audios[0]["codec_name"] == "aac"
    # 12 s of music on a 3 s video: the output lasts as long as the video
    assert videos[0]["duration"] == pytest.approx(3.0, abs=0.1)
    assert _audio_rms(out) > 0.01
    assert [p.name for p in out.parent.iterdir()] == ["clip.mp4"]
    # the soundtrack is the WAV, coded and in time: 30 dB or more above the coding noise (the
    # fast AAC coder measured 40 dB on a 3-minute piece). The last AAC frame, where the music is
    # cut at the video's end, is left out: any coder smears a cut.
    rate, wav = wavfile.read(music_wav)
    heard = _decoded_audio(out).astype(np.float64)
    assert rate == 44100 and len(heard) == pytest.approx(3 * rate, abs=2048)
    sent, heard = wav[: 2 * rate].astype(np.float64) / 32768, heard[: 2 * rate]
    snr = 10 * np.log10(np.sum(sent**2) / np.sum((sent - heard) ** 2))
    assert snr > 30, snr


def test_keep_audio_mixes_the_original_sound_under_the_music(clips, tmp_path) -> None:
    # with silent "music" what is heard is the original tone, 12 dB down (sine: 1/8 amplitude)
    kept, dropped = tmp_path / "kept.mp4", tmp_path / "dropped.mp4"
    mux_audio(clips["toned"], clips["silence"], kept, keep_audio=True)
    mux_audio(clips["toned"], clips["silence"], dropped, keep_audio=False)
    tone = 0.125 / np.sqrt(2)
    assert _audio_rms(kept) == pytest.approx(tone * 10 ** (-12 / 20), rel=0.15)
    assert _audio_rms(dropped) < 1e-4
    assert [s["codec_type"] for s in _streams(kept)].count("audio") == 1
    # a video without sound and keep_audio just gets the music
    mux_audio(clips["silent"], clips["silence"], tmp_path / "plain.mp4", keep_audio=True)
    assert [s["codec_type"] for s in _streams(tmp_path / "plain.mp4")] == ["video", "audio"]


def test_ffmpeg_failure_is_a_clear_error_and_leaves_nothing(clips, tmp_path) -> None:
    not_audio = tmp_path / "notes.wav"
    not_audio.write_text("not a wav file\n")
    out = tmp_path / "clip.mp4"
    with pytest.raises(ExportError, match="clip.mp4: ffmpeg failed: .+") as caught:
        mux_audio(clips["silent"], not_audio, out)
    assert isinstance(caught.value, V2MError) and "\n" not in str(caught.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.wav"]


def test_a_mux_told_to_stop_kills_ffmpeg_and_leaves_nothing(clips, music_wav, tmp_path) -> None:
    """Muxing in a helper thread of a run that is ending: ffmpeg is killed, not waited for, and
    neither the output nor its temporary file is left."""
    stop = threading.Event()
    stop.set()
    out = tmp_path / "clip.mp4"
    with pytest.raises(Cancelled):
        mux_audio(clips["silent"], music_wav, out, stop=stop)
    assert list(tmp_path.iterdir()) == []
    # a stop while the tool runs kills it: a process that would take a minute ends at once
    stop.clear()
    threading.Timer(0.3, stop.set).start()
    started = time.monotonic()
    with pytest.raises(Cancelled):
        video_module._run(["sleep", "60"], stop)
    assert time.monotonic() - started < 20


def test_no_ffmpeg_is_a_missing_part(clips, music_wav, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(video_module.shutil, "which", lambda name: None)
    with pytest.raises(MissingPartError, match="ffmpeg not found.*apt-get install ffmpeg"):
        mux_audio(clips["silent"], music_wav, tmp_path / "clip.mp4")


# -- MuseScore -------------------------------------------------------------------------------


def test_musescore_imports_the_midi_with_part_names_and_tempo(midi_file, tmp_path) -> None:
    mscore = shutil.which("mscore3")
    if mscore is None:
        pytest.skip("mscore3 not on PATH (apt-get install musescore3)")
    out = tmp_path / "from_midi.musicxml"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    subprocess.run([mscore, "-o", str(out), str(midi_file)], env=env, capture_output=True,
                   timeout=180, check=True)  # fmt: skip
    parsed = music21.converter.parse(out)
    # MuseScore names a part "<instrument>, <track name>"; it gives the piano, which reaches
    # down to C2, a grand staff, which music21 reads as two PartStaffs of one part
    names = list(dict.fromkeys(p.partName for p in parsed.parts))
    assert len(names) == 3
    for name, track in zip(names, ("Melody", "Piano", "Drums"), strict=True):
        assert name.endswith(track)
    marks = parsed.recurse().getElementsByClass("MetronomeMark")
    assert marks[0].number == 120
    assert [m.number for m in marks] == [120, 80]
