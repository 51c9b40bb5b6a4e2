"""The audio->motion stage: public entry points. The pieces, one idea per file:

- audio.py, phonetics.py: MFCC windows and articulatory values from a phone decoder, per output frame
- motion_model.py: the network (feature windows -> conv -> BiLSTM -> expression) and its checkpoint file
- motion_data.py: profile -> training clip; streaming batches over many profiles
- motion_train.py: the training loop, losses (coefficients, mouth vertices, velocity), early stopping
- motion_pose.py: the person's generative head-pose style (spectrum + speech modulation)
- motion_personalize.py / motion_general.py / motion_animate.py / motion_eval.py: the four commands' work
- motion_mouth.py, motion_metrics.py: mouth geometry and the evaluation metrics (docs/motion.md)
"""

from __future__ import annotations

from backend.motion_animate import animate, animate_samples
from backend.motion_eval import evaluate_motion
from backend.motion_general import train_general
from backend.motion_personalize import general_model_path, personalize

__all__ = ["animate", "animate_samples", "evaluate_motion", "general_model_path", "personalize", "train_general"]
