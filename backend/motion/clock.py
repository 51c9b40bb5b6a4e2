"""The audio clock shared by the speech features and the phone decoder: 16 kHz mono samples and a 10 ms
frame grid (frame j centred on sample j * HOP). One definition, so features.py and phonetics.py (which
features.py calls) both read it without importing each other."""

from __future__ import annotations

SR = 16000
HOP = 160  # 10 ms: MFCCs and phone rows at 100 Hz
FEATURE_RATE = SR / HOP
