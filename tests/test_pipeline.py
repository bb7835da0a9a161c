import numpy as np
import pytest
from conftest import speechlike

from actavatar.errors import InputError
from actavatar.motion import MOTION_NAMES
from actavatar.phases import Phase, PhasePlan

PLAN = PhasePlan("a woman talking", (Phase(0.0, 1.0, "nods twice"), Phase(2.0, 3.0, "smiles")))


def test_end_to_end_output_contract(tiny_pipeline):
    out = tiny_pipeline(speechlike(3.2), PLAN, np.zeros(16, np.float32), num_inference_steps=4, seed=0)
    assert out.motion.shape == (80, len(MOTION_NAMES)) and np.isfinite(out.motion).all()
    assert out.phase_attention.shape == (80, 2) and out.base_attention.shape == (80,)
    layers = out.layers
    assert len(layers["text_gate"]) == len(layers["audio_share"]) == 3
    np.testing.assert_allclose(np.add(layers["text_share"], layers["audio_share"]), 1.0, atol=1e-4)
    assert set(out.timings_s) >= {"encode", "diffusion"}


def test_hard_paca_puts_no_phase_attention_outside_windows(tiny_pipeline):
    out = tiny_pipeline(speechlike(3.2), PLAN, None, num_inference_steps=3)
    idx = PLAN.frame_phase_index(80, 25)
    assert (out.phase_attention[idx == -1] == 0).all()
    assert (out.phase_attention[idx == 0, 1] == 0).all() and (out.phase_attention[idx == 0, 0] > 0).all()
    soft = tiny_pipeline(speechlike(3.2), PLAN, None, num_inference_steps=3, paca_mode="soft")
    assert soft.phase_attention[24, 0] > 0  # frame 24 (0.98 s) is near phase 1's end; frame 26 leaks in soft mode
    assert soft.phase_attention[26, 0] > 0 and out.phase_attention[26, 0] == 0


def test_seeded_determinism_and_seed_sensitivity(tiny_pipeline):
    a = tiny_pipeline(speechlike(3.2), PLAN.with_base("x"), None, num_inference_steps=3, seed=7)
    b = tiny_pipeline(speechlike(3.2), PLAN.with_base("x"), None, num_inference_steps=3, seed=7)
    c = tiny_pipeline(speechlike(3.2), PLAN.with_base("x"), None, num_inference_steps=3, seed=8)
    np.testing.assert_array_equal(a.motion, b.motion)
    assert np.abs(a.motion - c.motion).max() > 1e-3


def test_long_audio_is_generated_in_overlapping_windows(tiny_pipeline):
    out = tiny_pipeline(speechlike(25.0), PLAN, None, num_inference_steps=2)
    assert out.motion.shape[0] == 625
    # The first window is shorter (its frames stream out sooner), the others 200 frames with 25 frames of overlap.
    assert out.windows == [(0, 100), (75, 275), (250, 450), (425, 625)]
    same = tiny_pipeline(speechlike(25.0), PLAN, None, num_inference_steps=2, first_window_frames=None)
    assert same.windows == [(0, 200), (175, 375), (350, 550), (525, 625)]


def test_callback_on_step_end_sees_and_can_replace_latents(tiny_pipeline):
    seen = []

    def callback(pipe, step, timestep, kwargs):
        seen.append(step)
        return {"latents": kwargs["latents"] * 0}

    out = tiny_pipeline(speechlike(3.2), PLAN, None, num_inference_steps=3, callback_on_step_end=callback)
    assert seen == [0, 1, 2]
    np.testing.assert_array_equal(out.motion, 0.0)  # the callback's zeroed latents are what came out


def test_schedule_override_uses_the_named_gates(tiny_pipeline):
    out = tiny_pipeline(speechlike(3.2), PLAN, None, num_inference_steps=2, schedule="reverse")
    assert out.layers["text_gate"] == pytest.approx([0.1, 0.55, 1.0])
    assert tiny_pipeline.transformer.modality_schedule.text_gate[0].item() == pytest.approx(
        1.0
    )  # shared model untouched


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        (dict(fps=0), "fps"),
        (dict(num_inference_steps=0), "steps"),
        (dict(paca_mode="maybe"), "PACA mode"),
        (dict(schedule="sideways"), "Schedule"),
        (dict(plan=PhasePlan("", (Phase(0, 9, "nods"),))), "ends after the audio ends"),
    ],
)
def test_bad_arguments(tiny_pipeline, kwargs, needle):
    plan = kwargs.pop("plan", PLAN)
    with pytest.raises(InputError, match=needle):
        tiny_pipeline(speechlike(3.2), plan, None, **kwargs)


def test_bf16_autocast_stays_close_to_fp32(tiny_pipeline):
    fp32 = tiny_pipeline(speechlike(3.2), PLAN, None, num_inference_steps=4, precision="fp32")
    bf16 = tiny_pipeline(speechlike(3.2), PLAN, None, num_inference_steps=4, precision="bf16")
    assert fp32.precision == "fp32" and bf16.precision == "bf16"
    scale = np.abs(fp32.motion).max(axis=0) + 1e-3
    assert (np.abs(bf16.motion - fp32.motion).max(axis=0) / scale).max() < 0.1
    with pytest.raises(InputError, match="precision"):
        tiny_pipeline(speechlike(3.2), PLAN, None, precision="fp8")


def test_audio_guidance_one_skips_the_unconditional_branch(tiny_pipeline):
    """g_a = 1 cancels the no-text-no-audio branch: two branches give the three-branch formula's result."""
    calls = []
    model = tiny_pipeline.transformer
    hook = model.register_forward_hook(lambda m, args, out: calls.append(args[0].shape[0]))
    try:
        two = tiny_pipeline(
            speechlike(3.2), PLAN, None, num_inference_steps=3, audio_guidance=1.0, precision="fp32",
            guidance_min_sigma=0.0, mirror_sampling=False,
        )  # fmt: skip
    finally:
        hook.remove()
    assert set(calls) == {2}
    # Reference: the three-branch formula at g_a = 1 + 1e-7 (v_none's weight ~0).
    ref = tiny_pipeline(
        speechlike(3.2), PLAN, None, num_inference_steps=3, audio_guidance=1.0 + 1e-7, precision="fp32",
        guidance_min_sigma=0.0, mirror_sampling=False,
    )  # fmt: skip
    np.testing.assert_allclose(two.motion, ref.motion, atol=2e-4)


def test_guidance_interval_runs_one_branch_below_the_threshold(tiny_pipeline):
    """Steps whose sigma is below ``guidance_min_sigma`` call the model on the conditioned branch alone; with the
    threshold above every sigma the result is the unguided one, with it at 0 every step is guided."""
    calls = []
    hook = tiny_pipeline.transformer.register_forward_hook(lambda m, args, out: calls.append(args[0].shape[0]))
    try:
        mixed = tiny_pipeline(
            speechlike(3.2), PLAN, None, num_inference_steps=4, guidance_min_sigma=0.5, audio_guidance=1.5,
            mirror_sampling=False,
        )  # fmt: skip
        assert calls == [3, 3, 1, 1]  # 4 steps: sigmas 1.0, 0.667 guided (text, audio, none); 0.334, 0.001 not
        calls.clear()
        tiny_pipeline(
            speechlike(3.2), PLAN, None, num_inference_steps=4, guidance_min_sigma=0.5, audio_guidance=1.0,
            mirror_sampling=False,
        )  # fmt: skip
        assert calls == [2, 2, 1, 1]  # audio guidance 1 (the default): text guidance alone, two branches
    finally:
        hook.remove()
    never = tiny_pipeline(
        speechlike(3.2), PLAN, None, num_inference_steps=4, guidance_min_sigma=1.01, precision="fp32"
    )
    plain = tiny_pipeline(
        speechlike(3.2), PLAN, None, num_inference_steps=4, text_guidance=1.0, audio_guidance=1.0, precision="fp32"
    )
    np.testing.assert_allclose(never.motion, plain.motion, atol=1e-5)
    always = tiny_pipeline(
        speechlike(3.2), PLAN, None, num_inference_steps=4, guidance_min_sigma=0.0, audio_guidance=1.5
    )
    assert not np.allclose(always.motion, never.motion, atol=1e-3)
    assert not np.allclose(mixed.motion, always.motion, atol=1e-5)


@pytest.mark.parametrize("value", [-0.1, 1.5])
def test_api_rejects_a_guidance_threshold_outside_0_1(tmp_path, value):
    from actavatar.api import generate

    with pytest.raises(InputError, match="guidance_min_sigma .* out of range"):
        generate(None, tmp_path / "missing.wav", out=None, guidance_min_sigma=value)


SIDED = PhasePlan(
    "a woman glancing left", (Phase(0.0, 1.0, "turns her head to the left"), Phase(1.5, 2.5, "winks right"))
)


@pytest.mark.parametrize("mirror_sampling", [True, False])
def test_mirror_sampling_makes_generation_mirror_equivariant(tiny_pipeline, mirror_sampling):
    """With mirror sampling on every step (``guidance_min_sigma=0``; by default the low-noise refinement steps run
    the plan's view alone), the mirrored plan from mirrored noise gives exactly the mirror image of the motion
    (across windows too: the known prefix is mirrored with everything else). Without it the untrained tiny model has
    no reason to be symmetric, which is what this test must be able to tell apart."""
    from actavatar.motion import mirror_motion
    from actavatar.pipelines.motion import mirrored_plan

    assert mirrored_plan(SIDED).phases[0].text == "turns her head to the right"
    assert mirrored_plan(SIDED).base == "a woman glancing right"
    opts = dict(
        num_inference_steps=3, precision="fp32", mirror_sampling=mirror_sampling, seed=3, guidance_min_sigma=0.0,
        window_frames=40, overlap_frames=10, first_window_frames=None,
    )  # fmt: skip
    plain = tiny_pipeline(speechlike(3.2), SIDED, None, **opts)
    assert len(plain.windows) > 1
    draw = tiny_pipeline.prepare_latents
    tiny_pipeline.prepare_latents = lambda n, generator: mirror_motion(draw(n, generator))
    try:
        mirrored = tiny_pipeline(speechlike(3.2), mirrored_plan(SIDED), None, **opts)
    finally:
        del tiny_pipeline.prepare_latents
    gap = np.abs(mirrored.motion - mirror_motion(plain.motion)).max()
    if mirror_sampling:
        assert gap < 1e-4
    else:
        assert gap > 1e-2


def test_mirror_sampling_adds_the_mirror_view_on_guided_steps_of_windows_that_name_a_side(tiny_pipeline):
    calls = []
    hook = tiny_pipeline.transformer.register_forward_hook(lambda m, args, out: calls.append(args[0].shape[0]))
    try:
        out = tiny_pipeline(
            speechlike(3.2), SIDED, None, num_inference_steps=4, guidance_min_sigma=0.5, mirror_sampling=True
        )
        assert calls == [4, 4, 1, 1]  # guided: (text+audio, audio) x (plan, mirror image); then the plan alone
        calls.clear()
        tiny_pipeline(speechlike(3.2), PLAN, None, num_inference_steps=4, guidance_min_sigma=0.5, mirror_sampling=True)
        assert calls == [2, 2, 1, 1]  # no side named anywhere: the mirror image is the plan itself
        calls.clear()
        one_sided = PhasePlan("a woman talking", (Phase(0.0, 1.0, "turns her head to the left"),))
        tiny_pipeline(
            speechlike(3.2), one_sided, None, num_inference_steps=2, guidance_min_sigma=0.0, mirror_sampling=True,
            window_frames=40, overlap_frames=10, first_window_frames=None,
        )  # fmt: skip
        assert calls == [4, 4, 2, 2, 2, 2]  # windows [0, 40) (the phase), [30, 70) and [60, 80) (side-free)
        calls.clear()
        tiny_pipeline(
            speechlike(3.2), SIDED, None, num_inference_steps=4, guidance_min_sigma=0.5, mirror_sampling=True,
            text_guidance=1.0, audio_guidance=1.0,
        )  # fmt: skip
        assert calls == [2, 2, 1, 1]  # no guidance: one branch, still both views on the noisy steps
    finally:
        hook.remove()
    idx = SIDED.frame_phase_index(80, 25)
    assert (out.phase_attention[idx == -1] == 0).all()  # attention is the plan's own view, PACA-masked as ever


def test_mirror_view_weights_follow_the_view_the_text_moves_more():
    import torch

    from actavatar.pipelines.motion import mirror_view_weights

    effect = torch.randn(1, 30, 14)
    same = mirror_view_weights(torch.cat([effect, effect]))
    torch.testing.assert_close(same, torch.full((2, 30, 1), 0.5))
    double = mirror_view_weights(torch.cat([effect, 2 * effect]), smooth_frames=1)
    torch.testing.assert_close(double[1], torch.full((30, 1), 256 / 257))  # energy 4x, to the 4th power
    assert mirror_view_weights(torch.zeros(2, 30, 14)).eq(0.5).all()  # no text effect at all: plain average
    step = torch.cat([torch.ones(1, 30, 14), torch.cat([torch.zeros(1, 15, 14), 3 * torch.ones(1, 15, 14)], 1)])
    w = mirror_view_weights(step)[1, :, 0]  # the mirror view's effect switches on at frame 15 ...
    assert w[0] < 1e-3 and w[-1] > 0.999 and ((w > 0.01) & (w < 0.99)).sum() >= 3  # ... and its weight rises
    assert (w.diff() >= 0).all()  # over a few frames (smoothed), not in one jump


def test_mirror_sampling_option_reaches_the_report_from_the_api_and_both_clis(tiny_checkpoint, speech_wav):
    from actavatar.api import generate
    from actavatar.cli import build_parser

    for flag in (True, False):
        result = generate(None, speech_wav, SIDED, out=None, steps=2, checkpoint=tiny_checkpoint, mirror_sampling=flag)
        assert result.report["settings"]["mirror_sampling"] is flag
    parse = build_parser().parse_args
    base = ["generate", "--portrait", "p.png", "--audio", "a.wav", "--out", "o.mp4"]
    assert parse(base).mirror_sampling is True
    assert parse([*base, "--no-mirror-sampling"]).mirror_sampling is False
    assert parse(["eval"]).mirror_sampling is True and parse(["eval", "--no-mirror-sampling"]).mirror_sampling is False


def test_guidance_and_window_seams_are_the_same_for_both_tiers():
    import torch

    from actavatar.pipelines import video
    from actavatar.pipelines.motion import cross_fade, guided_velocity

    assert video.guided_velocity is guided_velocity and video.cross_fade is cross_fade
    v_at, v_a, v_none = torch.tensor([3.0]), torch.tensor([2.0]), torch.tensor([0.5])
    assert guided_velocity(v_at, v_a, v_none, 1.0, 1.0) == v_at  # weights of 1 leave the fully conditioned branch
    assert guided_velocity(v_at, v_a, v_none, 2.0, 3.0) == 0.5 + 3.0 * 1.5 + 2.0 * 1.0
    assert guided_velocity(v_at, v_a, None, 2.0, 1.0) == 2.0 + 2.0 * 1.0
    with pytest.raises(ValueError, match="unconditioned"):
        guided_velocity(v_at, v_a, None, 2.0, 1.5)
    old, new = torch.zeros(2, 4, 1), torch.ones(2, 4, 1)  # (C, T, X): time on dim 1, as the video tier's frames
    faded = cross_fade(old, new, dim=1)[0, :, 0]
    assert torch.allclose(faded, torch.tensor([0.2, 0.4, 0.6, 0.8]))  # never one window's frame alone
