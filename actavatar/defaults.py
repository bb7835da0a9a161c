"""Inference defaults of the motion tier, shared by the pipeline, the API, the CLI and the app (one place)."""

# 6 Euler steps and no audio guidance (audio guidance 1.0: two guidance branches instead of three), from rendered
# pixels on the shipped model (96 clips per split, text guidance 2.5), against 10 steps with audio guidance 1.5:
#   held-out 81.2 % vs 82.0 %, training phrasings 92.2 % vs 91.8 %, lip r 0.60 / 0.56 vs 0.59 / 0.56, mouth closed
#   on silence 98 / 96 % vs 99 / 98 %, still-phase jitter 0.10 vs 0.07 degrees;
# 10 model evaluations per window instead of 24, the largest cut in the end-to-end time
# (docs/EXPERIMENTS.md, 6 steps without audio guidance).
STEPS = 6
# Text guidance 2.5, chosen from rendered pixels (96 clips per split, the shipped model, 10 steps, audio guidance 1.5):
#   2.5: held-out 82.0 %, training phrasings 91.8 %, lip r 0.59 / 0.56, action size 1.16x / 1.39x the ground truth
#   3.5: held-out 83.3 %, training phrasings 91.8 %, lip r 0.56 / 0.52, action size 1.30x / 1.58x
# Guidance multiplies the text-driven motion: at 4.5 a "tilts her head" tilted 2-3x as far as any training tilt
# (30 degrees, the clip limit) and turns hit the 40 degree limit, which the renderer cannot draw cleanly and the
# tracker reads worse (the previous weights from pixels on training phrasings: 89.6 % at 4.5, 93.5 % at 2.5).
TEXT_GUIDANCE = 2.5
AUDIO_GUIDANCE = 1.0
# Classifier-free guidance only on steps whose noise level sigma is at least this; the steps below run the fully
# conditioned branch alone (0 = guide every step). At 6 steps that is 4 guided steps and 2 single-branch ones (at 10
# steps 7 and 3: 24 instead of 30 model evaluations per window with audio guidance). From rendered pixels on one
# model of the shipped recipe (24 clips per split, 10 steps): phase accuracy identical (held-out 69.6 %, training
# phrasings 93.3 % both ways), lip sync 0.55 vs 0.52 (held-out) and 0.46 vs 0.45, onset 93 vs 97 ms and 84 vs 94 ms.
# Guidance shapes the motion while the noise is high; the last steps only refine it (cf. Kynkaanniemi et al. 2024,
# "Applying guidance in a limited interval").
GUIDANCE_MIN_SIGMA = 0.3
# The first generation window is shorter than the others (100 frames, 4 s at 25 fps, instead of 200): its frames are
# final, and start rendering and encoding, after half the diffusion work of a full window. Same total work for a
# 10 s clip (100 + 175 frames instead of 200 + 75); phase accuracy of the generated motion unchanged (0.914 vs
# 0.916 over 371 phases on training phrasings).
FIRST_WINDOW_FRAMES = 100
# Mirror sampling (``ActAvatarMotionPipeline.__call__(mirror_sampling=...)``): on the guided steps of windows whose
# texts name a side, also denoise the mirror image under the mirrored plan ("left" <-> "right") and weigh the two
# views by their text effect. From rendered pixels (shipped weights, 96 clips per split, default settings):
#   on:  held-out 89.1 %, training phrasings 96.1 % (tilting left 11/14, turning left 19/22 held-out phases)
#   off: held-out 82.8 %, training phrasings 95.2 % (tilting left 4/14, turning left 12/22)
# Lip sync, onset, leakage and mouth closure unchanged; 10 s clip with sided phases 0.84 s end to end vs 0.78 s.
MIRROR_SAMPLING = True
