"""The sound files of a folder, recognised by their content (not their extension), for the batch."""

from __future__ import annotations

import os


def looks_like_audio(head: bytes) -> bool:
    """WAV, AIFF, FLAC, Ogg, MP3 (ID3 tag or frame sync), MP4/M4A audio, by their first bytes."""
    if head[:4] == b"RIFF" and head[8:12] in (b"WAVE", b"RF64"):
        return True
    if head[:4] in (b"FORM",) and head[8:12] in (b"AIFF", b"AIFC"):
        return True
    if head[:4] in (b"fLaC", b"OggS") or head[:3] == b"ID3":
        return True
    if len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0 and head[1] & 0x06:  # MPEG audio frame
        return True
    return head[4:8] == b"ftyp" and head[8:11] in (b"M4A", b"mp4", b"iso", b"M4B")


def sound_files(directory: str) -> list[str]:
    """Audio files directly in `directory`, sorted by name; hidden files skipped."""
    out = []
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        if name.startswith(".") or not os.path.isfile(path):
            continue
        with open(path, "rb") as fh:
            if looks_like_audio(fh.read(16)):
                out.append(path)
    return out
