"""``import actavatar``: no model, no torch, and OpenMP told to wait passively before torch can load."""

import os
import subprocess
import sys


def run(code: str, env: dict | None = None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"} | (env or {})
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env).stdout


def test_import_is_light_and_sets_the_openmp_wait_policy():
    out = run(
        "import sys, os, actavatar; "
        "print('torch' in sys.modules, 'gradio' in sys.modules, os.environ['OMP_WAIT_POLICY'])"
    )
    assert out.split() == ["False", "False", "PASSIVE"]


def test_a_users_own_wait_policy_is_kept():
    out = run("import os, actavatar; print(os.environ['OMP_WAIT_POLICY'])", {"OMP_WAIT_POLICY": "ACTIVE"})
    assert out.strip() == "ACTIVE"
