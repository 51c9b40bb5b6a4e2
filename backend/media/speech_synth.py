"""Offline speech synthesis with espeak-ng (the `espeakng-loader` wheel bundles the library and its voices).

Used to build the demo's sample and, in the default test tier, speech whose phones are known: espeak-ng
reports every phoneme it speaks with its time, so a test can ask "are the lips closed at this /p/?" without
any recorded data. Called through ctypes (the C API is small); nothing is downloaded.
"""

from __future__ import annotations

import ctypes
import threading
from dataclasses import dataclass

import numpy as np

from backend.core.errors import UserError

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_PHONEME_EVENTS = 1  # espeakINITIALIZE_PHONEME_EVENTS
_EVENT_LIST_TERMINATED, _EVENT_PHONEME = 0, 7
_RATE = 1  # espeakRATE parameter


class _Event(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint), ("text_position", ctypes.c_int),
                ("length", ctypes.c_int), ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", ctypes.c_char * 8)]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))
_LOCK = threading.Lock()  # espeak-ng keeps global state: one synthesis at a time per process
_STATE: dict[str, object] = {}


@dataclass
class Speech:
    samples: np.ndarray  # [N] float32 mono
    sr: int
    phonemes: list[tuple[float, str]]  # (start time s, espeak-ng phoneme mnemonic, e.g. "b", "'aI", "_:")


def _library() -> tuple[ctypes.CDLL, int]:
    if "lib" not in _STATE:
        try:
            import espeakng_loader
        except ImportError as exc:
            raise UserError("speech synthesis needs the espeakng-loader package",
                            hint="run `make venv` (it is in pyproject.toml), or pip install espeakng-loader") from exc
        lib = ctypes.cdll.LoadLibrary(espeakng_loader.get_library_path())
        lib.espeak_Initialize.restype = ctypes.c_int
        sr = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, espeakng_loader.get_data_path().encode(),
                                   _PHONEME_EVENTS)
        if sr <= 0:
            raise RuntimeError(f"espeak-ng failed to initialise (returned {sr})")
        _STATE["lib"], _STATE["sr"] = lib, sr
    return _STATE["lib"], int(_STATE["sr"])  # type: ignore[return-value]


def synthesize(text: str, voice: str = "en-us", words_per_minute: int = 150) -> Speech:
    """`text` spoken by espeak-ng's `voice`, with the phonemes' start times."""
    if not text.strip():
        raise UserError("nothing to say: the text is empty")
    with _LOCK:
        lib, sr = _library()
        chunks: list[np.ndarray] = []
        phonemes: list[tuple[float, str]] = []

        def on_audio(wav, n, events) -> int:
            if n > 0:
                chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).astype(np.float32) / 32768.0)
            i = 0
            while events[i].type != _EVENT_LIST_TERMINATED:
                if events[i].type == _EVENT_PHONEME:
                    phonemes.append((events[i].audio_position / 1000.0, events[i].id.decode(errors="replace")))
                i += 1
            return 0

        callback = _CALLBACK(on_audio)  # kept alive until synthesis is over
        lib.espeak_SetSynthCallback(callback)
        if lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise UserError(f"espeak-ng has no voice {voice!r}", hint="use e.g. en-us, en, de, fr")
        lib.espeak_SetParameter(_RATE, int(words_per_minute), 0)
        data = text.encode()
        lib.espeak_Synth(data, len(data) + 1, 0, 0, 0, 0, None, None)
        lib.espeak_Synchronize()
    samples = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    return Speech(samples=samples, sr=sr, phonemes=phonemes)
