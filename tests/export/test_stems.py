"""Stems for a DAW: one WAV and one single-track MIDI per track, judged from the files.

They line up (same sample rate, same length, from 0 s; the same tempo map), add up to the mixed
WAV, and ``regenerate`` rewrites exactly the stems that changed.
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import mido
import numpy as np
import pretty_midi
import pytest
from scipy.io import wavfile

from symbolic_v2m.cli import main
from symbolic_v2m.errors import Cancelled
from symbolic_v2m.export import find_soundfont, render_audio
from symbolic_v2m.project import load_project

ROLES = ("melody", "accompaniment", "bass", "pad", "percussion")  # the cinematic style's tracks
#: The sum of the stems may differ from the mix by the rounding of each to 16 bits: at most half
#: a least significant bit per stem and half for the mix, i.e. 3 LSB for five stems (-80 dBFS).
TOLERANCE_LSB = (len(ROLES) + 1) // 2


def _audio_available() -> bool:
    try:
        find_soundfont()
        import fluidsynth  # noqa: F401
    except Exception:  # noqa: BLE001 - any reason means no audio here
        return False
    return True


pytestmark = pytest.mark.skipif(not _audio_available(), reason="FluidSynth or a soundfont missing")


@pytest.fixture(scope="module")
def with_stems(speed_clip, tiny_weights, tmp_path_factory) -> Path:
    """``compose --only midi,wav,project,stems``, as a user types it; the output folder."""
    out = tmp_path_factory.mktemp("stems")
    argv = ["compose", str(speed_clip.path), "--out", str(out), "--weights", str(tiny_weights)]
    assert main([*argv, "--only", "midi,wav,project,stems", "--candidates", "1", "-q"]) == 0
    return out


def _read_wav(path: Path) -> tuple[int, np.ndarray]:
    rate, samples = wavfile.read(path)
    assert samples.dtype == np.int16 and samples.ndim == 1, path
    return rate, samples.astype(np.int64)


def _notes(instrument: pretty_midi.Instrument) -> list[tuple[float, float, int, int]]:
    return sorted(
        (round(n.start, 4), round(n.end, 4), n.pitch, n.velocity) for n in instrument.notes
    )


def test_one_wav_and_one_midi_per_track_named_for_the_part(with_stems, speed_clip) -> None:
    stem = speed_clip.path.stem
    names = {p.name for p in with_stems.iterdir()}
    expected = {f"{stem}.{role}.{fmt}" for role in ROLES for fmt in ("wav", "mid")}
    assert expected <= names
    assert {f"{stem}.mid", f"{stem}.wav", f"{stem}.v2m.json"} <= names
    outputs = load_project(with_stems / f"{stem}.v2m.json").outputs
    assert outputs["stem.melody.wav"] == f"{stem}.melody.wav"


def test_stem_wavs_line_up_and_add_up_to_the_mix(with_stems, speed_clip) -> None:
    stem = speed_clip.path.stem
    rate, mix = _read_wav(with_stems / f"{stem}.wav")
    total = np.zeros_like(mix)
    for role in ROLES:
        stem_rate, samples = _read_wav(with_stems / f"{stem}.{role}.wav")
        assert stem_rate == rate and len(samples) == len(mix), role  # one timeline, from 0 s
        assert np.abs(samples).max() > 100, f"{role} is silent"
        total += samples
    assert np.abs(mix).max() > 1000
    assert np.abs(total - mix).max() <= TOLERANCE_LSB


def test_a_stem_midi_holds_one_part_on_the_full_tempo_map(with_stems, speed_clip) -> None:
    stem = speed_clip.path.stem
    full_path = with_stems / f"{stem}.mid"
    full = pretty_midi.PrettyMIDI(str(full_path))
    for role in ROLES:
        path = with_stems / f"{stem}.{role}.mid"
        midi = mido.MidiFile(str(path))
        assert midi.type == 0 and len(midi.tracks) == 1, role  # one track for one DAW track
        assert midi.length == pytest.approx(mido.MidiFile(str(full_path)).length)
        part = pretty_midi.PrettyMIDI(str(path))
        for got, want in zip(part.get_tempo_changes(), full.get_tempo_changes(), strict=True):
            assert np.allclose(got, want), role
        assert [(t.numerator, t.denominator, round(t.time, 4)) for t in
                part.time_signature_changes] == [(t.numerator, t.denominator, round(t.time, 4))
                                                 for t in full.time_signature_changes]  # fmt: skip
        # pretty_midi lists beats up to the last note, which differs per part: a prefix
        beats = part.get_beats()
        assert np.allclose(beats, full.get_beats()[: len(beats)])
        (instrument,) = part.instruments
        original = next(i for i in full.instruments if i.name == instrument.name)
        assert instrument.name.lower() == role
        assert (instrument.program, instrument.is_drum) == (original.program, original.is_drum)
        assert _notes(instrument) == _notes(original) and instrument.notes


def test_a_stem_wav_is_its_midi_rendered_with_the_same_sounds(with_stems, speed_clip) -> None:
    """The melody stem's MIDI rendered on its own sounds like the melody stem's WAV (the same
    soundfont, rate and timing; only the level differs, the stems share the mix's gain)."""
    stem = speed_clip.path.stem
    with render_audio(with_stems / f"{stem}.melody.mid") as rendering:
        alone = rendering.read().astype(np.float64)
    _, wav = _read_wav(with_stems / f"{stem}.melody.wav")
    assert len(alone) == len(wav)
    correlation = np.dot(alone, wav) / (np.linalg.norm(alone) * np.linalg.norm(wav))
    assert correlation > 0.999


def test_regenerate_rewrites_the_stems_that_changed(with_stems, speed_clip, tmp_path) -> None:
    stem = speed_clip.path.stem
    work = tmp_path / "work"
    shutil.copytree(with_stems, work)
    files = {role: (work / f"{stem}.{role}.mid", work / f"{stem}.{role}.wav") for role in ROLES}
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for pair in files.values() for p in pair}
    project = work / f"{stem}.v2m.json"
    argv = ["regenerate", str(project), "--stage", "melody", "--keep", "--bars", "2-3"]
    assert main([*argv, "--seed", "3", "-q"]) == 0

    def rewritten(path: Path) -> bool:
        data, mtime = before[path]
        if path.read_bytes() == data:
            assert path.stat().st_mtime_ns == mtime, f"{path.name} rewritten unchanged"
            return False
        return True

    # the MIDI stems: the melody's, and no other (the accompaniment was kept; bass, pad and
    # percussion come from the chords, the accompaniment and the video)
    assert [r for r in ROLES if rewritten(files[r][0])] == ["melody"]
    # the WAV stems share the mix's gain: the melody's, or every one when the level moved
    changed = [r for r in ROLES if rewritten(files[r][1])]
    assert changed in (["melody"], list(ROLES))
    rate, mix = _read_wav(work / f"{stem}.wav")
    total = sum(_read_wav(files[r][1])[1] for r in ROLES)
    assert np.abs(total - mix).max() <= TOLERANCE_LSB
    # --only midi: the stem MIDIs follow, the audio (mix and stems) is left as it was
    wavs = {r: files[r][1].read_bytes() for r in ROLES}
    assert main(["regenerate", str(project), "--stage", "melody", "--only", "midi", "-q"]) == 0
    assert rewritten(files["melody"][0])
    assert {r: files[r][1].read_bytes() for r in ROLES} == wavs


def test_stems_are_not_in_the_default_set_but_in_all(tmp_path, capsys) -> None:
    from symbolic_v2m.compose import DEFAULT_OUTPUTS, OUTPUTS, ComposeConfig

    assert "stems" not in ComposeConfig().outputs == DEFAULT_OUTPUTS
    assert "stems" in OUTPUTS
    missing = tmp_path / "nope.mp4"
    assert main(["compose", str(missing), "--only", "all", "--out", str(tmp_path / "o")]) == 1
    assert "nope.mp4" in capsys.readouterr().err  # accepted: stopped by the missing video
    assert main(["compose", str(missing), "--only", "midi,stem"]) == 2
    assert "--only" in capsys.readouterr().err


def test_rendering_does_not_depend_on_how_many_tracks_render_at_once(with_stems, speed_clip):
    """Tracks are synthesised side by side (FluidSynth runs without Python's lock); the mix,
    every stem and the gain are the same bytes as one track at a time."""
    midi = with_stems / f"{speed_clip.path.stem}.mid"
    with render_audio(midi, workers=1) as one, render_audio(midi, workers=3) as several:
        assert one.gain == several.gain and one.read().tobytes() == several.read().tobytes()
        assert one.names == several.names  # the tracks' order, not the finishing order
        assert all(one.read(n).tobytes() == several.read(n).tobytes() for n in one.names)


def _envelope_db(samples: np.ndarray, gain: float, window: int = 22050) -> np.ndarray:
    """Half-second RMS levels in dB of the synthesizers' own output (the gain undone)."""
    raw = samples[: len(samples) // window * window].astype(np.float64) / gain
    rms = np.sqrt((raw.reshape(-1, window) ** 2).mean(axis=1))
    return 20 * np.log10(np.maximum(rms, 1e-9))


def test_without_stems_the_tracks_share_synthesizers_and_sound_the_same(with_stems, speed_clip):
    """compose's default outputs have no stems: the tracks then share a synthesizer per worker,
    each on its own channel. The mix is not the same samples as the sum of the tracks rendered
    alone (the chorus's phase starts with the synthesizer's first note, one rounding per
    synthesizer) but the same music: as long, peaking at -1 dBFS, its loudness half a second at
    a time within 0.5 dB of the tracks-alone mix on average, 1.5 dB at most. The last second is
    left out: there a track alone is cut one second after its own last note (pretty_midi's
    rule), where a shared synthesizer lets it ring until the last track's."""
    midi = with_stems / f"{speed_clip.path.stem}.mid"
    with render_audio(midi) as alone, render_audio(midi, stems=False, workers=1) as shared:
        assert shared.names == () and shared.length == alone.length
        with pytest.raises(ValueError, match="no stems"):
            shared.read(alone.names[0])
        mix, reference = shared.read(), alone.read()
        assert max(mix.max(), -int(mix.min())) == round(10 ** (-1 / 20) * 32767)
        ours, theirs = _envelope_db(mix, shared.gain), _envelope_db(reference, alone.gain)
    ours, theirs = ours[:-2], theirs[:-2]
    apart = np.abs(ours - theirs)[theirs > theirs.max() - 40]  # the windows one can hear
    assert len(apart) > 10 and apart.mean() < 0.5 and apart.max() < 1.5


def test_compose_shares_synthesizers_only_without_stems(
    with_stems, speed_clip, tiny_weights, tmp_path
) -> None:
    """The WAV of a composition with stems is the tracks-alone mix (its stems add up to it);
    without stems, the shared synthesizers' mix."""
    from symbolic_v2m.export import write_wav

    out = tmp_path / "plain"
    argv = ["compose", str(speed_clip.path), "--out", str(out), "--weights", str(tiny_weights)]
    assert main([*argv, "--only", "midi,wav", "--candidates", "1", "-q"]) == 0
    name = speed_clip.path.stem
    assert (out / f"{name}.mid").read_bytes() == (with_stems / f"{name}.mid").read_bytes()
    for stems, folder in ((True, with_stems), (False, out)):
        with render_audio(out / f"{name}.mid", stems=stems) as rendering:
            write_wav(tmp_path / f"{stems}.wav", rendering)
        assert (tmp_path / f"{stems}.wav").read_bytes() == (folder / f"{name}.wav").read_bytes()


def test_a_shared_synthesizer_that_clips_renders_its_tracks_alone(
    with_stems, speed_clip, monkeypatch
) -> None:
    """FluidSynth clips its 16-bit output at full scale, and several tracks in one synthesizer
    can reach it where each alone would not: such a synthesizer's tracks are rendered again,
    each alone, and the mix is then the tracks-alone mix (to the rounding of each to 16 bits)."""
    from symbolic_v2m.export import audio

    midi = with_stems / f"{speed_clip.path.stem}.mid"
    with render_audio(midi) as alone:
        reference, reference_gain = alone.read().astype(np.float64), alone.gain
        tracks = len(alone.names)
    made = []
    synthesizer = audio._synthesizer
    monkeypatch.setattr(audio, "_synthesizer", lambda *a: made.append(1) or synthesizer(*a))
    monkeypatch.setattr(audio, "_FULL_SCALE", 1)  # as if every shared synthesizer had clipped
    with render_audio(midi, stems=False, workers=1) as fallback:
        assert len(made) == 1 + tracks  # the shared one, then each track alone
        rescaled = reference * fallback.gain / reference_gain
        assert np.abs(fallback.read() - rescaled).max() <= 1.5


def test_shared_synthesizers_are_balanced_and_take_one_drum_track_each() -> None:
    from symbolic_v2m.export.audio import _share_synthesizers

    def track(seconds: float, drum: bool = False) -> pretty_midi.Instrument:
        instrument = pretty_midi.Instrument(0, is_drum=drum)
        instrument.notes.append(pretty_midi.Note(80, 60, 0.0, seconds))
        return instrument

    tracks = [track(10), track(40), track(5, drum=True), track(30), track(20, drum=True)]
    groups = _share_synthesizers(tracks, workers=2)
    assert sorted(i for g in groups for i in g) == list(range(5)) and len(groups) == 2
    assert all(sum(tracks[i].is_drum for i in g) == 1 for g in groups)
    loads = [sum(tracks[i].notes[0].end for i in g) for g in groups]
    assert max(loads) - min(loads) <= 10  # 40+10+5 against 30+20 (any fuller split is worse)
    three_kits = [track(1, drum=True) for _ in range(3)]
    assert sorted(map(len, _share_synthesizers(three_kits, workers=2))) == [1, 1, 1]
    assert _share_synthesizers(tracks, workers=1) == [[0, 1, 3, 4], [2]]  # a kit a synthesizer


def test_rendering_a_block_at_a_time_gives_the_same_audio(with_stems, speed_clip, monkeypatch):
    """The audio is synthesised, mixed and written in blocks (memory flat in the length): tiny
    blocks, which cut every note and every span between events, give the same bytes, and each
    track is exactly what pretty_midi's whole-track renderer makes of it."""
    from symbolic_v2m.export import audio

    midi = with_stems / f"{speed_clip.path.stem}.mid"
    with render_audio(midi) as whole:
        expected = [whole.read(), *(whole.read(n) for n in whole.names)]
        gain, length = whole.gain, whole.length
    monkeypatch.setattr(audio, "BLOCK_SAMPLES", 997)  # a prime: blocks never align with events
    with render_audio(midi) as blocks:
        assert (blocks.gain, blocks.length) == (gain, length)
        got = [blocks.read(), *(blocks.read(n) for n in blocks.names)]
    assert [g.tobytes() for g in got] == [e.tobytes() for e in expected]
    # each stem is pretty_midi's rendering of its track, at the rendering's gain
    parsed = pretty_midi.PrettyMIDI(str(midi))
    melody = next(i for i in parsed.instruments if i.name.lower() == "melody")
    synthesizer, sfid = audio._synthesizer(find_soundfont(), 44100)
    try:
        reference = melody.fluidsynth(synthesizer=synthesizer, sfid=sfid)
    finally:
        synthesizer.delete()
    reference = np.pad(reference, (0, length - len(reference)))
    pcm = np.round(reference * gain * 32767).astype(np.int16)
    assert pcm.tobytes() == got[1 + whole.names.index(melody.name)].tobytes()


def test_a_rendering_leaves_no_scratch_files(with_stems, speed_clip, tmp_path) -> None:
    with render_audio(with_stems / f"{speed_clip.path.stem}.mid", scratch=tmp_path) as rendering:
        assert list(tmp_path.iterdir())  # the tracks wait on disk, not in memory
        assert len(rendering.read()) == rendering.length
    assert not list(tmp_path.iterdir())


def test_a_rendering_told_to_stop_ends_with_cancelled(with_stems, speed_clip, tmp_path) -> None:
    """Rendering beside the score's export: when the run ends for another reason the helper
    stops within a block of the track under way, reporting no further progress, and leaves no
    scratch files."""
    stop, reports = threading.Event(), []

    def progress(done: float, total: float) -> None:
        reports.append((done, total))
        if done > 0:
            stop.set()

    scratch = tmp_path / "scratch"
    scratch.mkdir()
    with pytest.raises(Cancelled):
        render_audio(with_stems / f"{speed_clip.path.stem}.mid", progress=progress, stop=stop,
                     workers=1, scratch=scratch)  # fmt: skip
    assert reports[0][0] == 0 and reports[-1][0] > 0  # the start, then progress until the stop
    assert sum(done > 0 for done, _ in reports) == 1  # nothing reported once it was set
    assert reports[-1][0] < reports[-1][1]  # the piece was not finished
    assert not list(scratch.iterdir())
