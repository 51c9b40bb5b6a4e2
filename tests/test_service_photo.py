"""One photo through the HTTP service: the image upload is accepted as a clip, a generate job on it skips
personalize (the motion prior needs no training) and returns tracks and a video. Real server subprocess."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest
from test_service_harness import Server, upload, wait_for

from backend import media
from backend.core.tracks import tracks_from_dict
from backend.media.speech_synth import synthesize


def test_generate_from_one_photo(tmp_path: Path) -> None:
    from skimage import data

    photo = tmp_path / "portrait.png"
    cv2.imwrite(str(photo), cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
    speech = synthesize("Hello, my name is Pam.")
    wav = tmp_path / "speech.wav"
    media.write_wav(wav, speech.samples, speech.sr)
    with Server(tmp_path / "data") as srv, srv.client(timeout=120) as c:
        if not c.get("/health").json()["job_kinds"]["generate"]:
            pytest.skip("this build lacks a stage generate needs")
        clip, audio = upload(c, photo), upload(c, wav)
        assert clip["kind"] == "image"
        job = c.post("/jobs", json={"kind": "generate", "clip": clip["id"], "audio": audio["id"],
                                    "render": {"size": 256, "refine": False}}).json()
        done = wait_for(c, job["id"], timeout=600, poll=1)
        assert done["state"] == "succeeded", done.get("error") or done.get("log_tail")
        assert done["done_steps"] == ["analyze", "personalize", "animate", "render"]
        assert set(done["result"]["files"]) == {"tracks.json", "video.mp4"}
        profile = c.get(f"/profiles/{done['result']['profile_id']}").json()
        assert profile["manifest"]["source"]["kind"] == "photo" and "motion.pt" not in profile["files"]
        tracks = tracks_from_dict(c.get(f"/jobs/{job['id']}/files/tracks.json").json())
        assert tracks.provenance["model"] == "prior" and "blink" in tracks.layers
        video = tmp_path / "video.mp4"
        video.write_bytes(c.get(f"/jobs/{job['id']}/result").content)
        assert media.probe_video(video).has_audio
