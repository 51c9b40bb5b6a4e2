"""Stage 2, audio to motion: speech to expression and head-pose tracks, one idea per file:

- features: MFCC windows per output frame; phonetics: articulatory values from PocketSphinx's phone decoder;
  formants: Praat's F1-F3 z-scored per recording (read by a member trained with them; none ships)
- model: the network (feature windows -> conv -> BiLSTM -> expression) and its checkpoint file
- data: profile -> training clip (speech-only targets, cached features); streaming batches over many profiles
- people: person keys of training clips, the leave-out split, per-person sampling weights
- blinks: blink measurement on the clip and the seeded blink generator (a tracks layer of its own)
- train: the training loop and losses; pose: the person's generative head-pose style
- personalization / general / animation / evaluation: the work of personalize, train-general, animate, eval-motion
- mouth, metrics: mouth geometry and the evaluation metrics (docs/motion.md); synthetic: test profiles
"""

from __future__ import annotations

from backend.core.lazy import lazy_exports

_EXPORTS = {
    "animate": "animation",
    "animate_samples": "animation",
    "evaluate_motion": "evaluation",
    "train_general": "general",
    "general_model_path": "personalization",
    "personalize": "personalization",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
