"""The deployment files, read without docker: docker-compose.yml, the Dockerfile, the lock file,
and `servicecore probe`, the command the containers' health checks run.

(`docker compose config` validates the compose file against the specification in .ci/run,
where docker compose exists.)
"""

from __future__ import annotations

import re
import threading
import tomllib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from servicecore.cli import main

ROOT = Path(__file__).resolve().parents[2]
RESTART_POLICIES = re.compile(r"^(no|always|unless-stopped|on-failure(:\d+)?)$")


@pytest.fixture(scope="module")
def services() -> dict[str, dict[str, Any]]:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    found: dict[str, dict[str, Any]] = compose["services"]
    assert {"postgres", "kafka", "migrate", "api", "projections", "analytics",
            "relay"} <= set(found)
    return found


def jobs(services: dict[str, dict[str, Any]]) -> set[str]:
    """Services others wait for to complete successfully: they run once and exit."""
    return {name for service in services.values()
            for name, condition in (service.get("depends_on") or {}).items()
            if isinstance(condition, dict)
            and condition.get("condition") == "service_completed_successfully"}


def test_every_service_has_a_restart_policy(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        policy = service.get("restart")
        assert policy is not None and RESTART_POLICIES.match(policy), (name, policy)
        # A job is started again only when it failed; a long-running service always.
        expected = "on-failure" if name in jobs(services) else "unless-stopped"
        assert policy.startswith(expected), (name, policy)


def test_every_service_has_a_health_check(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        check = service.get("healthcheck")
        assert isinstance(check, dict), f"{name} has no healthcheck"
        if name in jobs(services):
            assert check == {"disable": True}, name  # said so, not forgotten
            continue
        test = check["test"]
        assert isinstance(test, list) and test[0] in ("CMD", "CMD-SHELL") and len(test) > 1, name
        for key in ("interval", "timeout", "retries"):
            assert key in check, (name, key)


def test_servicecore_processes_probe_their_own_health_endpoint(
        services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        command = service.get("command") or []
        if command[:2] == ["servicecore", "serve"]:
            assert service["healthcheck"]["test"] == [
                "CMD", "servicecore", "probe", "http://127.0.0.1:8000/health/ready"], name
        elif command[:2] == ["servicecore", "worker"]:
            assert service["healthcheck"]["test"] == [
                "CMD", "servicecore", "probe", "http://127.0.0.1:9100/health"], name


def test_processes_start_after_what_they_need(services: dict[str, dict[str, Any]]) -> None:
    assert services["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    for name in ("api", "projections", "analytics", "relay"):
        depends = services[name]["depends_on"]
        assert depends["migrate"] == {"condition": "service_completed_successfully"}, name
        assert depends["postgres"] == {"condition": "service_healthy"}, name
    assert services["relay"]["depends_on"]["kafka"] == {"condition": "service_healthy"}


def test_the_pools_fit_within_postgresqls_default_connections(
        services: dict[str, dict[str, Any]]) -> None:
    """Each process: its pool, plus the health check's connection and the event loop's read
    pool, sized by the same setting (API), or the projections' lock sessions and the log
    watch's LISTEN (projections worker: one lock session for all views as a group, seven when
    SERVICECORE_PROJECTION_GROUP is off; the larger count is taken); an API replica of N worker
    processes is N + 1 processes (the parent counted as if it served too); the whole layout
    stays below max_connections = 100."""
    total = 0
    for name in ("api", "projections", "analytics", "relay"):
        service = services[name]
        pool = int(service["environment"]["SERVICECORE_POOL_SIZE"])
        extra = {"api": pool + 1, "projections": 7 + 1}.get(name, 0)
        replicas = int((service.get("deploy") or {}).get("replicas", 1))
        workers = int(service["environment"].get("SERVICECORE_WORKERS", "1"))
        processes = workers + 1 if workers > 1 else 1
        total += replicas * processes * (pool + extra)
    assert total <= 90, total


def test_the_image_runs_as_its_user_with_a_data_folder_it_owns() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"install -d -o servicecore -g servicecore .*/data", dockerfile)
    assert "SERVICECORE_DATA_DIR=/data" in dockerfile
    assert re.search(r"^USER servicecore$", dockerfile, re.MULTILINE)


def test_the_image_installs_the_lock_file_then_the_project_alone() -> None:
    lines = [line for line in (ROOT / "Dockerfile").read_text().splitlines()
             if line.startswith("RUN pip install")]
    assert lines[0].endswith("--require-hashes -r requirements.lock"), lines
    assert "--no-deps ." in lines[1], lines


def lock_entries() -> dict[str, tuple[str, list[str]]]:
    """name -> (pinned version, hashes) of requirements.lock."""
    text = (ROOT / "requirements.lock").read_text()
    entries: dict[str, tuple[str, list[str]]] = {}
    for block in re.split(r"\n(?=\S)", text):
        match = re.match(r"([A-Za-z0-9_.\-]+)==([^\s\\]+)", block)
        if match:
            entries[canonicalize_name(match[1])] = (match[2],
                                                    re.findall(r"--hash=sha256:(\w{64})", block))
    return entries


def test_the_lock_pins_every_runtime_dependency_with_hashes() -> None:
    entries = lock_entries()
    assert entries and all(hashes for _, hashes in entries.values())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for spec in project["dependencies"]:
        requirement = Requirement(spec)
        name = canonicalize_name(requirement.name)
        assert name in entries, f"{name} is missing from requirements.lock: run `make lock`"
        assert requirement.specifier.contains(entries[name][0]), (
            f"requirements.lock pins {name}=={entries[name][0]}, outside {requirement.specifier}")


@pytest.fixture
def health_server() -> Iterator[str]:
    """/ok and /health/ready answer 200, anything else 503."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path in ("/ok", "/health/ready") else 503)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_probe_exits_0_only_on_a_2xx_answer(health_server: str) -> None:
    assert main(["probe", f"{health_server}/ok"]) == 0
    assert main(["probe", f"{health_server}/down"]) == 1


def test_probe_asks_the_apis_readiness_by_default(health_server: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERVICECORE_PORT", health_server.rsplit(":", 1)[1])
    assert main(["probe"]) == 0


def test_probe_exits_1_when_nothing_answers() -> None:
    assert main(["probe", "--timeout", "2", "http://127.0.0.1:9/health"]) == 1  # refused
