"""Progress a person can read: denoising counted per window and step, the first run's model load named."""

from __future__ import annotations

import shutil

from actavatar.api import generate, pipeline_loaded, progress_label


def test_denoising_is_counted_per_window_and_step():
    # 2 windows x 6 steps arrive as i of 12: a person reads "window 2/2, step 1/6", not "step 7/12".
    assert progress_label("denoise", 1, 12, steps=6) == "Denoising: window 1/2, step 1/6"
    assert progress_label("denoise", 7, 12, steps=6) == "Denoising: window 2/2, step 1/6"
    assert progress_label("denoise", 12, 12, steps=6) == "Denoising: window 2/2, step 6/6"
    assert progress_label("denoise", 3, 6, steps=6) == "Denoising: step 3/6"  # one window
    assert progress_label("denoise", 3, 6) == "Denoising: step 3/6"  # steps unknown: the plain count
    assert progress_label("render", 10, 158) == "Rendering frame 10/158"
    assert progress_label("load", 0, 1) == "Loading the model (first run only)"


def test_the_first_run_names_the_model_load(tiny_checkpoint, speech_wav, tmp_path):
    checkpoint = tmp_path / "fresh-checkpoint"  # a path no earlier test loaded
    shutil.copytree(tiny_checkpoint, checkpoint)
    runs = []
    for _ in range(2):
        stages: list[str] = []
        assert pipeline_loaded(checkpoint) == bool(runs)
        generate(
            None,
            speech_wav,
            None,
            steps=2,
            checkpoint=checkpoint,
            progress=lambda s, i, n, seen=stages: seen.append(s),
        )
        runs.append(stages)
    first, second = runs
    assert first[0] == "load" and first[1] == "encode" and first.count("load") == 1
    assert "load" not in second and second[0] == "encode"
