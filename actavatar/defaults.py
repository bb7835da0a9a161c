"""Inference defaults of the motion tier, shared by the pipeline, the API, the CLI and the app (one place)."""

STEPS = 20
# Chosen by a sweep on clips with *training* phrasings (2.0 / 3.0 / 4.5 / 6.0 -> phase accuracy of the generated
# motion 0.83 / 0.86 / 0.89 / 0.89, mouth-loudness correlation 0.59 / 0.58 / 0.56 / 0.52); see MODEL_CARD.md.
TEXT_GUIDANCE = 4.5
AUDIO_GUIDANCE = 1.5
