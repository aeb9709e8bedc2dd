"""End to end on the serving and GPU labs: the course's FastAPI app served for real, a Triton
stand-in, real ONNX models timed by onnxruntime in the 'container', GPU stand-ins, Zun."""

from __future__ import annotations

from pathlib import Path

from graders.labs import load_lab
from labsim import onnxmodels
from tests.conftest import graded_as_expected

PROFILES = {
    "serve-system-chi": [
        "healthy",
        "fastapi_pt",
        "triton",
        "slow",
        "wrong_answer",
        "not_json",
        "huge_body",
        "redirect_away",
        "stall_mid_body",
        "no_gpu_driver",
        "host_down",
        "server_error",
    ],
    "serve-model-chi": [
        "healthy",
        "fake_quantized",
        "copied_models",
        "missing_models",
        "no_jupyter",
        "amd_gpus",
        "host_down",
    ],
    "llm-chi": ["healthy", "single_gpu", "gpu_idle", "no_jupyter", "no_gpu_driver", "host_down"],
    "serve-edge-chi": [
        "healthy",
        "no_container",
        "jupyter_down",
        "server_error",
        "empty_container",
    ],
}
# Smaller loads and windows than a real grading, so the suite stays short; the code paths
# are the same.
QUICK = {
    "serve-system-chi": {
        "load": {
            "c1": {"requests": 10, "concurrency": 1},
            "c16": {"requests": 24, "concurrency": 16},
        },
        "gpu": {"window_s": 3},
    },
    "serve-model-chi": {"benchmark": {"runs": 20, "batch": 4}},
    "llm-chi": {"gpu": {"window_s": 3}},
}


def test_every_profile_is_graded_as_expected(lab_room) -> None:
    lab_id, r = lab_room
    lab = load_lab(lab_id)
    for key, value in QUICK.get(lab_id, {}).items():
        for sub, v in value.items():
            lab.config[key][sub] = {**lab.config[key][sub], **v} if isinstance(v, dict) else v
    if lab_id == "serve-model-chi":
        # lab.yaml lists the hashes of the course's real published models, which the
        # simulator cannot ship: it builds stand-ins (onnxmodels.py), and the grading of this
        # classroom adds their hashes, as it tunes the benchmark above.
        published = lab.config["models"]["published_sha256"]
        stand_ins = onnxmodels.published_sha256(Path(r.root) / "hosts")
        assert len(published) == 2 and len(stand_ins) == 2 and not set(stand_ins) & set(published)
        lab.config["models"]["published_sha256"] = {**published, **stand_ins}
    graded = graded_as_expected(lab_id, r.students, lab)
    feedback = {
        (s.profile, c.check): c.feedback for s, res in graded for c in res.items if c.feedback
    }
    if lab_id == "serve-model-chi":
        copied = "byte for byte a model the course publishes (labsim stand-in for serve-edge-chi"
        for check in ("quantized_dynamic", "quantized_aggressive", "quantized_conservative"):
            assert copied in feedback["copied_models", check], feedback["copied_models", check]
        assert "a copy of food11.onnx" in feedback["copied_models", "optimized_model"]
        # food11.onnx copied to the conservative name
        assert "no quantized operators" in feedback["fake_quantized", "quantized_conservative"]
    if lab_id == "serve-edge-chi":
        healthy = next(res for s, res in graded if s.profile == "healthy")
        assert healthy.score == healthy.max_score, healthy.score
        m = {c.id: c.measurements for c in healthy.items}
        assert m["measure_pi_run"]["food11_quantized_aggressive_median_ms"] == 13.92
        assert (
            "No module named 'onnxruntime'" in feedback["empty_container", "onnxruntime_installed"]
        )
        assert (
            "missing in the container's work/models: food11.onnx"
            in feedback["empty_container", "models_in_container"]
        )
        assert (
            "no work/measure_pi.ipynb in the container"
            in feedback["empty_container", "measure_pi_run"]
        )
    if lab_id == "serve-system-chi":
        healthy = next(res for s, res in graded if s.profile == "healthy")
        m = {c.id: c.measurements for c in healthy.items}
        assert m["latency_p50"]["p50_ms"] > 0 and m["throughput_c16"]["throughput_rps"] > 0
        assert m["gpu_used"]["gpus_busy"] >= 1  # busy while the load ran
        # the leaderboard names measurements the checks really record
        assert healthy.leaderboard == [
            {"name": "Median latency (ms)", "value": m["latency_p50"]["p50_ms"], "order": "asc"},
            {
                "name": "Throughput at concurrency 16 (req/s)",
                "value": m["throughput_c16"]["throughput_rps"],
                "order": "desc",
            },
        ]
        hostile = {s.profile: res for s, res in graded}
        for profile, needle in (
            ("not_json", "did not answer JSON"),
            ("huge_body", "the grader stopped reading"),
            ("redirect_away", "another host"),
            ("stall_mid_body", "stalled after"),
        ):
            fb = next(c.feedback for c in hostile[profile].items if c.check == "predict_valid")
            assert needle in fb, (profile, fb)
