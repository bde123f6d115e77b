"""``reload-chain sim``: the simulated tenant served alone, as a user would start it."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx

PROGRAM = str(Path(sys.executable).parent / "reload-chain")


def test_sim_serves_the_builtin_tenant_until_sigterm() -> None:
    process = subprocess.Popen(
        [PROGRAM, "sim", "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline() + process.stdout.readline()
        url = re.search(r"QLIK_TENANT_URL=(\S+)", banner)
        key = re.search(r"QLIK_API_KEY=(\S+)", banner)
        assert url and key, banner
        items = httpx.get(
            f"{url[1]}/api/v1/items",
            params={"resourceType": "app,script", "limit": 100},
            headers={"Authorization": f"Bearer {key[1]}"},
        )
        assert items.status_code == 200
        assert "Finance extract" in {item["name"] for item in items.json()["data"]}
        assert httpx.get(f"{url[1]}/api/v1/items").status_code == 401
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)
    assert process.returncode == 0


def test_sim_with_a_bad_scenario_file_exits_2(tmp_path: Path) -> None:
    scenario = tmp_path / "broken.toml"
    scenario.write_text('[[apps]]\nkey = "a"\nnext = ["missing"]\n', encoding="utf-8")
    command = [PROGRAM, "sim", "--scenario", str(scenario)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 2
    assert "broken.toml" in result.stderr and "missing" in result.stderr
