"""Content sniffing: what kind of media a file is, decided by its bytes, never by its name.

Images are recognised by magic bytes (PyAV would also open them, as one-frame "videos"); everything else
goes through a PyAV probe. FFmpeg itself guesses some formats from the file name (a `.txt` opens as the
`tty` ANSI-art demuxer), so text-like content and name-only formats are rejected before and after probing.
"""

from __future__ import annotations

import os
from pathlib import Path

import av

from backend.core.errors import UserError

# Demuxers FFmpeg picks from a file name or for raw text; never real footage or speech here.
_NAME_ONLY_FORMATS = {"tty", "ansi", "lrc", "srt", "ass", "webvtt", "sami", "subviewer", "microdvd", "jacosub"}

_IMAGE_MAGIC: tuple[tuple[bytes, int, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", 0, "png"),
    (b"\xff\xd8\xff", 0, "jpeg"),
    (b"GIF87a", 0, "gif"),
    (b"GIF89a", 0, "gif"),
    (b"BM", 0, "bmp"),
    (b"II*\x00", 0, "tiff"),
    (b"MM\x00*", 0, "tiff"),
)


def image_format(head: bytes) -> str | None:
    """The image format named by the first bytes of a file, or None."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    for magic, offset, name in _IMAGE_MAGIC:
        if head[offset:offset + len(magic)] == magic:
            # "BM" alone is weak: also require the BMP header's reserved zero bytes.
            if name == "bmp" and head[6:10] != b"\x00\x00\x00\x00":
                continue
            return name
    return None


def looks_like_text(head: bytes) -> bool:
    """True for plain text (UTF-8 without NULs and almost no control bytes): no media container is."""
    if not head or b"\x00" in head:
        return False
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # a cut multi-byte character at the end is still text
            return False
        text = head[:exc.start].decode("utf-8")
    control = sum(1 for ch in text if ord(ch) < 32 and ch not in "\t\n\r\f")
    return control <= len(text) // 100


def check_file(path: str | os.PathLike[str]) -> Path:
    """The path if it names a readable, non-empty file; else a UserError saying which."""
    p = Path(path)
    if not p.exists():
        raise UserError(f"file not found: {p}", hint="check the path")
    if not p.is_file():
        raise UserError(f"not a file: {p}", hint="pass a media file, not a directory")
    if p.stat().st_size == 0:
        raise UserError(f"file is empty (0 bytes): {p}", hint="the upload or copy may have failed; try again")
    return p


def read_head(path: Path, n: int = 4096) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(n)


def open_container(path: str | os.PathLike[str]) -> av.container.InputContainer:
    """Open a media file with PyAV, turning FFmpeg failures into UserErrors that name the problem."""
    p = check_file(path)
    head = read_head(p)
    if looks_like_text(head):
        raise UserError(f"not a media file: {p} contains text",
                        hint="pass a video (mp4, mov, mkv, webm...) or audio (wav, mp3, m4a, flac, ogg) file")
    try:
        container = av.open(str(p), mode="r")
    except av.FFmpegError as exc:
        raise UserError(f"not a media file, or a truncated/corrupt one: {p} ({_ffmpeg_reason(exc)})",
                        hint="re-export or re-download the file; a partial copy cannot be read") from exc
    if container.format.name in _NAME_ONLY_FORMATS:
        container.close()
        raise UserError(f"not a media file: {p} ({container.format.name} text)",
                        hint="pass a video or audio file")
    return container


def _ffmpeg_reason(exc: Exception) -> str:
    return getattr(exc, "strerror", None) or str(exc)


def _has_decodable_video(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> bool:
    try:
        for _frame in container.decode(stream):
            return True
    except av.FFmpegError:
        return False
    return False


def real_video_streams(container: av.container.InputContainer) -> list[av.video.stream.VideoStream]:
    """Video streams that are footage, not cover art attached to an audio file."""
    return [s for s in container.streams.video if not (s.disposition & av.stream.Disposition.attached_pic)]


def sniff(path: str | os.PathLike[str]) -> str:
    """'video', 'audio' or 'image', from the file's content. UserError for anything else.

    'video' means a video stream whose first frame decodes; 'audio' means audio streams only (cover art
    does not count as video); 'image' means a still image format recognised by its magic bytes.
    """
    p = check_file(path)
    if image_format(read_head(p, 64)) is not None:
        return "image"
    with open_container(p) as container:
        videos = real_video_streams(container)
        if videos:
            if _has_decodable_video(container, videos[0]):
                return "video"
            raise UserError(f"video stream in {p} has no decodable frames (truncated or corrupt file?)",
                            hint="re-export or re-download the clip")
        if container.streams.audio:
            return "audio"
    raise UserError(f"not a media file: {p} has neither video nor audio streams",
                    hint="pass a video or audio file")
