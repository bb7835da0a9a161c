"""``import actavatar``: no model, no torch, and libgomp's spin count set before torch can load."""

import os
import subprocess
import sys


def run(code: str, **env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=clean | env)
    return proc.stdout


def test_import_is_light_and_sets_the_spin_count():
    out = run(
        "import sys, os, actavatar; "
        "print('torch' in sys.modules, 'gradio' in sys.modules, os.environ['GOMP_SPINCOUNT'])"
    )
    assert out.split() == ["False", "False", "3000"]


def test_a_users_own_openmp_settings_are_kept():
    code = "import os, actavatar; print(os.environ.get('GOMP_SPINCOUNT'), os.environ.get('OMP_WAIT_POLICY'))"
    assert run(code, OMP_WAIT_POLICY="PASSIVE").split() == ["None", "PASSIVE"]
    assert run(code, GOMP_SPINCOUNT="5").split() == ["5", "None"]
