"""Phonetic features: which speech sound is being made every 10 ms, as articulatory values the lips show.

A motion model trained on one person's 10 s (or a general model on a few minutes) cannot learn acoustic
phonetics from scratch. PocketSphinx ships a general US-English acoustic model (CMU Sphinx en-us); its
phone-loop decoder ("allphone") labels every 10 ms frame with one of 39 phones or silence.
Each phone is mapped to a few articulatory values that are visible on the lips (jaw opening, rounding,
spreading, lip closure, lip-teeth contact, ...), which transfer across speakers and roughly across
languages (the phone set is English; other languages get the nearest English sounds).

The features are on the MFCC grid (100 Hz, frame j centred on sample j * HOP) so they are windowed with the
MFCCs. Long audio is decoded in overlapping chunks: memory stays bounded and the chunks can run in
parallel.
"""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from backend.motion.clock import HOP, SR

# jaw opening, lip rounding, lip spreading, lips closed (p b m), lip-teeth (f v), tongue-teeth (th dh),
# vowel, silence/noise
ARTICULATORY = ("open", "round", "spread", "closed", "labiodental", "dental", "vowel", "silence")
PHONES: dict[str, tuple[float, ...]] = {
    "AA": (1.0, 0.0, 0.0, 0, 0, 0, 1, 0), "AE": (0.9, 0.0, 0.5, 0, 0, 0, 1, 0),
    "AH": (0.7, 0.0, 0.0, 0, 0, 0, 1, 0), "AO": (0.8, 0.6, 0.0, 0, 0, 0, 1, 0),
    "AW": (0.9, 0.4, 0.0, 0, 0, 0, 1, 0), "AY": (0.9, 0.0, 0.3, 0, 0, 0, 1, 0),
    "EH": (0.6, 0.0, 0.5, 0, 0, 0, 1, 0), "ER": (0.4, 0.5, 0.0, 0, 0, 0, 1, 0),
    "EY": (0.5, 0.0, 0.7, 0, 0, 0, 1, 0), "IH": (0.4, 0.0, 0.6, 0, 0, 0, 1, 0),
    "IY": (0.25, 0.0, 1.0, 0, 0, 0, 1, 0), "OW": (0.6, 0.8, 0.0, 0, 0, 0, 1, 0),
    "OY": (0.7, 0.6, 0.0, 0, 0, 0, 1, 0), "UH": (0.4, 0.7, 0.0, 0, 0, 0, 1, 0),
    "UW": (0.3, 1.0, 0.0, 0, 0, 0, 1, 0),
    "B": (0.0, 0.0, 0.0, 1, 0, 0, 0, 0), "P": (0.0, 0.0, 0.0, 1, 0, 0, 0, 0), "M": (0.0, 0.0, 0.0, 1, 0, 0, 0, 0),
    "F": (0.1, 0.0, 0.0, 0, 1, 0, 0, 0), "V": (0.1, 0.0, 0.0, 0, 1, 0, 0, 0),
    "TH": (0.25, 0.0, 0.0, 0, 0, 1, 0, 0), "DH": (0.25, 0.0, 0.0, 0, 0, 1, 0, 0),
    "W": (0.2, 1.0, 0.0, 0, 0, 0, 0, 0), "R": (0.3, 0.5, 0.0, 0, 0, 0, 0, 0),
    "Y": (0.25, 0.0, 0.8, 0, 0, 0, 0, 0), "L": (0.35, 0.0, 0.0, 0, 0, 0, 0, 0),
    "HH": (0.5, 0.0, 0.0, 0, 0, 0, 0, 0),
    "SH": (0.25, 0.6, 0.0, 0, 0, 0, 0, 0), "ZH": (0.25, 0.6, 0.0, 0, 0, 0, 0, 0),
    "CH": (0.25, 0.6, 0.0, 0, 0, 0, 0, 0), "JH": (0.25, 0.6, 0.0, 0, 0, 0, 0, 0),
    "S": (0.15, 0.0, 0.3, 0, 0, 0, 0, 0), "Z": (0.15, 0.0, 0.3, 0, 0, 0, 0, 0),
    "T": (0.2, 0.0, 0.0, 0, 0, 0, 0, 0), "D": (0.2, 0.0, 0.0, 0, 0, 0, 0, 0), "N": (0.2, 0.0, 0.0, 0, 0, 0, 0, 0),
    "K": (0.3, 0.0, 0.0, 0, 0, 0, 0, 0), "G": (0.3, 0.0, 0.0, 0, 0, 0, 0, 0), "NG": (0.3, 0.0, 0.0, 0, 0, 0, 0, 0),
}
SILENCE_ROW = np.array((0.0, 0.0, 0.0, 0, 0, 0, 0, 1), np.float32)
DIM = len(ARTICULATORY)
CHUNK_S = 30.0  # longest piece decoded at once (shorter when that spreads the work over the cores)
MIN_CHUNK_S = 8.0  # below this a worker process costs more than it saves
OVERLAP_S = 1.0  # each chunk side: the decoder needs context to settle on a phone at a chunk edge
# The decoder is single-threaded C that holds the GIL (threads gave no speed-up), so several pieces are
# decoded in worker processes (`python -m backend.motion.phonetics`, PCM in, rows out). Not multiprocessing: its
# spawn mode re-runs the caller's main script, which breaks scripts without a __main__ guard.


def _decoder():
    """A fresh decoder per piece: a reused one carries state over from the previous utterance (measured: it
    labels the same piece differently), and a piece's result must not depend on what was decoded before."""
    from pocketsphinx import Decoder, get_model_path

    model = get_model_path()
    return Decoder(hmm=os.path.join(model, "en-us", "en-us"),
                   allphone=os.path.join(model, "en-us", "en-us-phone.lm.bin"),
                   beam=1e-20, pbeam=1e-20, lw=2.0, loglevel="FATAL")


def _decode(pcm: np.ndarray) -> list[tuple[str, int, int]]:
    decoder = _decoder()
    decoder.start_utt()
    decoder.process_raw(pcm.tobytes(), full_utt=True)
    decoder.end_utt()
    return [(seg.word, seg.start_frame, seg.end_frame) for seg in decoder.seg()]


def _rows(segments: list[tuple[str, int, int]], n: int) -> np.ndarray:
    """[n, DIM] one row per 10 ms decoder frame; anything not a phone (silence, noise, <s>) is silence."""
    out = np.tile(SILENCE_ROW, (n, 1))
    for phone, start, end in segments:
        row = PHONES.get(phone)
        if row is not None:
            out[max(0, start): max(0, min(n, end + 1))] = row
    return out


def _decode_rows(piece: np.ndarray) -> np.ndarray:
    return _rows(_decode(piece), piece.size // HOP + 1)


def _decode_in_worker(piece: np.ndarray) -> np.ndarray:
    """Decode one int16 piece in a child process (the caller's threads only wait on its pipes)."""
    root = str(Path(__file__).resolve().parents[2])  # the directory holding backend/
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run([sys.executable, "-m", "backend.motion.phonetics"], input=piece.tobytes(),
                          capture_output=True, env=env, check=False)
    n = piece.size // HOP + 1
    if proc.returncode != 0 or len(proc.stdout) != n * DIM * 4:
        raise RuntimeError(f"phone decoder worker failed (exit {proc.returncode}): "
                           f"{proc.stderr.decode(errors='replace')[-500:]}")
    return np.frombuffer(proc.stdout, np.float32).reshape(n, DIM)


class PhoneticDecode:
    """The phone decoding of one recording, started when constructed and collected with `rows()`.

    Several pieces run in worker processes, one per core; with `background` even a single piece does, so
    the caller can do other work (imports, model loading) meanwhile. Otherwise one piece decodes in this
    process when `rows()` is called (no process start-up)."""

    def __init__(self, samples: np.ndarray, workers: int | None = None, background: bool = False) -> None:
        pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype(np.int16)
        workers = max(1, workers or os.cpu_count() or 1)
        chunk_s = min(CHUNK_S, max(MIN_CHUNK_S, len(pcm) / SR / workers))
        self.chunk, overlap = int(chunk_s * SR) // HOP * HOP, int(OVERLAP_S * SR)
        self.starts = list(range(0, max(1, len(pcm)), self.chunk))
        self.lows = [max(0, start - overlap) for start in self.starts]
        self.pieces = [pcm[lo: start + self.chunk + overlap] for lo, start in zip(self.lows, self.starts, strict=True)]
        self._pool: ThreadPoolExecutor | None = None
        if background or (len(self.pieces) > 1 and workers > 1):
            self._pool = ThreadPoolExecutor(min(workers, len(self.pieces)))  # threads only wait on pipes
            self._futures = [self._pool.submit(_decode_in_worker, piece) for piece in self.pieces]

    def rows(self, n_frames: int) -> np.ndarray:
        """[n_frames, DIM] articulatory values on the 100 Hz MFCC grid."""
        if self._pool is not None:
            try:
                decoded = [future.result() for future in self._futures]
            finally:
                self._pool.shutdown()
        else:
            decoded = [_decode_rows(piece) for piece in self.pieces]
        out = np.tile(SILENCE_ROW, (n_frames, 1))
        for lo, start, rows in zip(self.lows, self.starts, decoded, strict=True):
            first = (start - lo) // HOP  # drop the overlap before the chunk; the one after is cut by the next
            dst = start // HOP
            keep = rows[first: first + self.chunk // HOP][: max(0, n_frames - dst)]
            out[dst: dst + len(keep)] = keep
        return out


def silence_away_from_speech(rows: np.ndarray, activity: np.ndarray) -> np.ndarray:
    """The phone loop always outputs some phone, also in digital silence and room noise: rows over 100 ms
    from any voice-active 10 ms frame become silence (stop closures inside words stay). In place."""
    from scipy.ndimage import maximum_filter1d

    rows[~maximum_filter1d(activity, size=21, mode="constant")] = SILENCE_ROW
    return rows


def articulatory_frames(samples: np.ndarray, n_frames: int, workers: int | None = None) -> np.ndarray:
    """[n_frames, DIM] articulatory values on the 100 Hz MFCC grid for 16 kHz mono `samples`."""
    return PhoneticDecode(samples, workers).rows(n_frames)


def _worker_main() -> None:
    """`python -m backend.motion.phonetics`: int16 16 kHz PCM on stdin -> float32 [n, DIM] rows on stdout."""
    piece = np.frombuffer(sys.stdin.buffer.read(), np.int16)
    sys.stdout.buffer.write(_decode_rows(piece).astype(np.float32).tobytes())


if __name__ == "__main__":
    _worker_main()
