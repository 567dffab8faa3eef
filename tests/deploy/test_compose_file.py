"""compose.yaml runs the same stack as ``python3 dev.py demo``, and every piece of it fits.

Docker is not needed: these tests read compose.yaml and the Dockerfile and check what
would go wrong at ``docker compose up`` — an unknown variable name, a command naming a
module that does not exist, two services on one port, an IdP that sends people back to a
URL the portal does not serve, a service started before what it needs. When a compose
implementation is installed, it validates the file as well.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.core.management import get_commands
from django.urls import resolve

from tests.deploy.compose_file import (
    CALLBACK_PATH,
    ROOT,
    command,
    dockerfile_stage_text,
    dockerfile_stages,
    env,
    env_names_read_by,
    healthcheck_code,
    names_in_markdown,
    option,
    published_ports,
    services,
)

PORTAL_SERVICES = ("migrate", "web", "worker", "beat", "requests")
DEVTOOLS_SERVICES = ("idp", "standin")
# What the official images read (their documentation); the portal does not read these.
IMAGE_VARIABLES = {
    "postgres": {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"},
    "rabbitmq": {"RABBITMQ_DEFAULT_USER", "RABBITMQ_DEFAULT_PASS"},
}


def test_the_stack_has_every_process_of_the_demo_on_real_servers():
    procfile = (ROOT / "devtools" / "Procfile.demo").read_text().splitlines()
    demo_processes = {line.split(":", 1)[0] for line in procfile if line.strip()}
    assert demo_processes == {"web", "worker", "beat", "idp", "standin", "requests"}
    assert set(services()) == demo_processes | {"postgres", "rabbitmq", "migrate"}
    for name in PORTAL_SERVICES:
        assert urlsplit(env(name)["DATABASE_URL"]).hostname == "postgres"
        assert urlsplit(env(name)["CELERY_BROKER_URL"]).scheme == "amqp"
        assert urlsplit(env(name)["CELERY_BROKER_URL"]).hostname == "rabbitmq"


def test_the_portal_gets_every_setting_the_demo_sets():
    sys.path.insert(0, str(ROOT))
    import dev

    for name in PORTAL_SERVICES:
        missing = set(dev.DEMO_ENV) - set(env(name))
        assert not missing, f"{name} lacks {sorted(missing)} that `dev.py demo` sets"
        assert env(name)["DJANGO_SETTINGS_MODULE"] == "portal.settings.production"
    # One configuration for every portal process, as a real deployment has.
    assert len({tuple(sorted(env(name).items())) for name in PORTAL_SERVICES}) == 1


def test_every_variable_is_one_the_code_reads_and_the_portals_are_documented():
    portal_reads = env_names_read_by("portal", "apps") | {"DJANGO_SETTINGS_MODULE"}
    documented = names_in_markdown(ROOT / "docs" / "configuration.md")
    devtools_reads = env_names_read_by("devtools")
    for name in PORTAL_SERVICES:
        unknown = set(env(name)) - portal_reads
        assert not unknown, f"{name}: the portal reads no {sorted(unknown)}"
        undocumented = set(env(name)) - documented
        assert not undocumented, f"{name}: {sorted(undocumented)} not in docs/configuration.md"
    for name in DEVTOOLS_SERVICES:
        unknown = set(env(name)) - devtools_reads
        assert not unknown, f"{name}: devtools read no {sorted(unknown)}"
    for name, allowed in IMAGE_VARIABLES.items():
        assert set(env(name)) <= allowed


@pytest.mark.parametrize("doc", ["configuration.md", "operations.md"])
def test_every_variable_the_code_reads_is_documented(doc):
    # USER/LOGNAME only name the operator of a CLI run; tests/ and benchmarks/ are not scanned.
    documented = names_in_markdown(ROOT / "docs" / doc)
    missing = env_names_read_by("portal", "apps") - documented - {"USER", "LOGNAME"}
    assert not missing, f"add {sorted(missing)} to docs/{doc}"


def _python_module(args: list[str]) -> str | None:
    return args[2] if args[:2] == ["python", "-m"] else None


def test_every_command_names_code_that_exists():
    for name, service in services().items():
        if "command" not in service:
            assert name in IMAGE_VARIABLES, f"{name} has no command"
            continue
        args = command(name)
        if args[:2] == ["python", "manage.py"]:
            assert args[2] in get_commands(), f"{name}: no management command {args[2]!r}"
        elif module := _python_module(args):
            spec = importlib.util.find_spec(module)
            assert spec, f"{name}: no {module}"
            if spec.submodule_search_locations:  # a package runs its __main__
                assert importlib.util.find_spec(f"{module}.__main__"), f"{name}: no {module}"
        elif args[0] == "celery":
            app = option(args, "-A")[0]
            assert importlib.import_module(f"{app}.celery").app.main == app
            assert args[3] in {"worker", "beat"}
        elif args[0] == "gunicorn":
            assert (ROOT / option(args, "--config")[0]).is_file()
            module = importlib.import_module(args[-1])
            assert callable(module.application)
        else:
            pytest.fail(f"{name}: unexpected command {args}")
        healthcheck = service.get("healthcheck", {})
        if healthcheck.get("test", [""])[:3] == ["CMD", "python", "-c"]:
            compile(healthcheck_code(name), f"<{name} healthcheck>", "exec")


def test_the_worker_runs_the_event_intake_and_beat_the_schedule():
    worker = command("worker")
    assert worker[:4] == ["celery", "-A", "portal", "worker"]
    assert env("worker").get("EVENTS_INTAKE_ENABLED", "true") == "true"
    # The stand-in publishes where the worker's intake consumes.
    assert env("standin")["EVENTS_EXCHANGE"] == env("worker")["EVENTS_EXCHANGE"]
    assert env("standin")["EVENTS_QUEUE"] == env("worker")["EVENTS_QUEUE"]
    events_broker = env("worker").get("EVENTS_BROKER_URL") or env("worker")["CELERY_BROKER_URL"]
    assert env("standin")["EVENTS_BROKER_URL"] == events_broker
    # Beat keeps its schedule in the database (report schedules are added there at run time).
    assert command("beat")[:4] == ["celery", "-A", "portal", "beat"]
    assert "--scheduler" not in command("beat")
    assert settings.CELERY_BEAT_SCHEDULER == "django_celery_beat.schedulers:DatabaseScheduler"
    assert "PeriodicTask.objects.filter(last_run_at__gte=" in healthcheck_code("beat")


def test_the_go_api_urls_and_tokens_reach_the_stand_in():
    standin = command("standin")
    port = option(standin, "--port")[0]
    assert option(standin, "--host") == ["0.0.0.0"]  # noqa: S104 — reachable from other containers
    for variable in ("PAYMENTS_API_URL", "ACCOUNTS_API_URL"):
        url = urlsplit(env("worker")[variable])
        assert (url.hostname, str(url.port)) == ("standin", port)
    for variable in ("PAYMENTS_API_TOKEN", "ACCOUNTS_API_TOKEN"):
        assert env("standin")[variable] == env("worker")[variable]


def test_ports_do_not_clash():
    ports = published_ports()
    host_ports = [p.host_port for p in ports]
    assert len(host_ports) == len(set(host_ports)), ports
    assert {p.host_ip for p in ports} == {"127.0.0.1"}, "the demo users have a known password"
    # web and idp share one network namespace: their listening ports must differ too.
    assert services()["idp"]["network_mode"] == "service:web"
    idp_port = int(option(command("idp"), "--port")[0])
    web_port = 8000  # portal/gunicorn.conf.py binds 0.0.0.0:8000 unless GUNICORN_BIND is set
    assert "GUNICORN_BIND" not in env("web")
    assert idp_port != web_port
    assert {p.container_port for p in ports if p.service == "web"} == {web_port, idp_port}
    assert option(command("idp"), "--host") == ["0.0.0.0"]  # noqa: S104 — the published port
    standin_port = int(option(command("standin"), "--port")[0])
    assert [p.container_port for p in ports if p.service == "standin"] == [standin_port]


def test_the_issuer_is_one_url_for_the_browser_and_the_web_container():
    issuer = urlsplit(env("web")["OIDC_SERVER_URL"])
    idp_port = int(option(command("idp"), "--port")[0])
    # The browser reaches localhost:<port> through the port web publishes; inside web the
    # same URL is the idp process, which shares web's network namespace. allauth's IdP
    # names itself after the URL it was reached by, so both sides see one issuer.
    assert (issuer.scheme, issuer.hostname, issuer.port, issuer.path) == (
        "http",
        "localhost",
        idp_port,
        "",
    )
    assert any(p.service == "web" and p.host_port == idp_port for p in published_ports())
    assert "localhost" in env("web")["ALLOWED_HOSTS"].split(",")


def test_the_idp_sends_people_back_to_the_portals_callback():
    idp = command("idp")
    portal_urls = option(idp, "--portal-url")
    assert portal_urls
    web_ports = {p.host_port for p in published_ports() if p.service == "web"}
    allowed = env("web")["ALLOWED_HOSTS"].split(",")
    for base in portal_urls:
        url = urlsplit(base)
        assert url.hostname in allowed, base
        assert url.port in web_ports, base
        assert url.path in ("", "/")
    match = resolve(CALLBACK_PATH)
    assert match.url_name == "openid_connect_callback"  # allauth's route, the portal's checks
    assert match.kwargs == {"provider_id": "sso"}
    # The client the IdP registers is the one the portal presents.
    assert env("idp")["OIDC_CLIENT_ID"] == env("web")["OIDC_CLIENT_ID"]
    assert env("idp")["OIDC_CLIENT_SECRET"] == env("web")["OIDC_CLIENT_SECRET"]
    assert not option(idp, "--client-id")
    assert not option(idp, "--client-secret")
    # The IdP writes its signing key at start: /app in the image belongs to root.
    assert env("idp")["DEVIDP_STATE_DIR"].startswith("/tmp/")


def test_services_start_in_order_and_wait_for_health():
    all_services = services()
    for name, service in all_services.items():
        for other, rule in (service.get("depends_on") or {}).items():
            assert other in all_services, f"{name} depends on unknown {other}"
            condition = rule["condition"]
            if condition == "service_healthy":
                assert "test" in all_services[other].get("healthcheck", {}), (name, other)
            elif condition == "service_completed_successfully":
                assert all_services[other].get("restart") == "no", (name, other)
            else:
                assert condition == "service_started"
    for name in ("web", "worker", "beat"):
        assert set(all_services[name]["depends_on"]) == {"postgres", "rabbitmq", "migrate"}
    assert set(all_services["migrate"]["depends_on"]) == {"postgres"}
    # Without the worker's queue the stand-in's first events would be routed nowhere.
    assert all_services["standin"]["depends_on"]["worker"]["condition"] == "service_healthy"
    assert all_services["idp"]["depends_on"]["web"]["condition"] == "service_started"


def test_the_dockerfile_builds_both_images_compose_uses():
    stages = dockerfile_stages()
    assert stages[-1] == "production", "a plain `docker build .` must give the production image"
    targets = {
        name: service["build"]["target"]
        for name, service in services().items()
        if "build" in service
    }
    assert set(targets.values()) <= set(stages)
    for name in PORTAL_SERVICES:
        # The demo's requests are made by a devtools script with the portal's configuration.
        assert targets[name] == ("dev" if name == "requests" else "production")
    for name in DEVTOOLS_SERVICES:
        assert targets[name] == "dev"
        assert _python_module(command(name)).startswith("devtools.")
    assert "devtools" in dockerfile_stage_text("dev")
    assert "devtools" not in dockerfile_stage_text("runtime")
    assert "devtools" not in dockerfile_stage_text("production")
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", ".local", ".git"} <= set(ignored)


def _compose_cli() -> list[str] | None:
    docker = shutil.which("docker")
    if docker:
        probe = subprocess.run(
            [docker, "compose", "version"], capture_output=True, text=True, check=False
        )
        if probe.returncode == 0:
            return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


def test_a_compose_implementation_accepts_the_file():
    cli = _compose_cli()
    if cli is None:
        if os.environ.get("CI"):
            pytest.fail("CI installs docker-compose (.ci/run); it is missing")
        pytest.skip("neither `docker compose` nor docker-compose is installed")
    result = subprocess.run(
        [*cli, "--project-directory", str(ROOT), "-f", str(ROOT / "compose.yaml"), "config", "-q"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
