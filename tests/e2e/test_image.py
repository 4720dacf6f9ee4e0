"""The platform's image built and run, not only validated (issue 22): the image is built with
podman from deploy/docker/Dockerfile on a base made locally from Debian's packages
(deploy/image.py), and the four services run from it — read-only root, host network —
against the test broker and store; one completion flows to its certificate, e-mail and JP
ledger entry."""
from __future__ import annotations

import pytest

from deploy import image
from deploy.launcher import Stack, free_ports
from shared import auth
from tests.e2e.client import Platform, person, programme
from tests.e2e.conftest import text_of
from tests.support import wait_for

TAG = "localhost/asn-bangkom:e2e"


@pytest.fixture(scope="module")
def built():
    missing = image.missing_tools()
    if missing:
        pytest.skip(f"cannot build the image here: {', '.join(missing)} missing (Debian packages podman, "
                    f"mmdebstrap, runc; .ci/run installs them)")
    return image.build(TAG)


@pytest.fixture(scope="module")
def stack(built, mongo_uri, amqp_uri, db_prefix, smtp, tmp_path_factory):
    extra_env = {
        # A key in the environment, not a file: the image runs as uid 10001, which may not read
        # the host's secret file.
        "AUTH_SECRET": auth.generate_secret(),
        "ENROLLMENT_APPROVAL_LINK_SECRET": auth.generate_secret(),  # (the same: no host file in the container)
        "NOTIFICATION_SMTP_HOST": "127.0.0.1",
        "NOTIFICATION_SMTP_PORT": str(smtp.port),
        "NOTIFICATION_QUIET_HOURS": "00:00-00:00",
        "NOTIFICATION_DELIVERY_POLL_INTERVAL_S": "0.2",
        "RELAY_POLL_INTERVAL_S": "0.1",
    }
    with Stack(mongo_uri=mongo_uri, amqp_uri=amqp_uri, db_prefix=f"{db_prefix}img_", ports=free_ports(),
               log_dir=tmp_path_factory.mktemp("image-logs"), extra_env=extra_env, ready_timeout=120,
               command=lambda service, env: image.run_command(service, env, built)) as running:
        yield running


def test_the_four_services_run_from_the_image_and_a_completion_reaches_certificate_email_and_ledger(stack, smtp):
    platform = Platform(stack)
    for service in stack.services:  # each answers from the container, with its own OpenAPI document
        assert platform.get(service, "/openapi.json")["info"]["title"]
    rina = person("Rina Yulia Sari", female=True)
    course = platform.publish_programme(programme("IMG"))
    platform.register(rina)
    enrolment = platform.enrol(course["code"], rina)
    platform.end_programme(course["code"])  # a certification's results are recorded after its end
    passed = platform.complete(enrolment["id"], score=88)
    assert (passed["result"], passed["jp_earned"]) == ("passed", 32)

    certificate = platform.wait_for_certificate(rina.nip, timeout=90)
    pdf = platform.call("GET", "certification", f"/certificates/{certificate['id']}/pdf")
    assert pdf.content.startswith(b"%PDF")  # reportlab and the templates are in the image
    mail = smtp.wait_for(rina.email, certificate["number"], timeout=90)
    assert certificate["verification_url"] in text_of(mail)
    [entry] = wait_for(lambda: [e for e in platform.ledger_entries(rina.nip)
                                if e.get("certificate_number") == certificate["number"]],
                       timeout=90, message="the ledger entry with its certificate")
    assert entry["jp"] == 32


def test_a_service_in_the_image_stops_gracefully_on_sigterm(stack):
    assert stack.terminate("notification", timeout=30) == 0
    stack.restart("notification")
    assert stack.ready("notification")


def test_the_operators_asn_command_is_in_the_image(built):
    import os
    import subprocess
    import tomllib

    from deploy.image import CONTAINERS_CONF, ROOT

    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    done = subprocess.run(["podman", "--runtime", "runc", "run", "--rm", "--read-only", "--network", "host",
                           "--entrypoint", "asn", built, "--version"], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF)})
    assert (done.returncode, done.stdout, done.stderr) == (0, f"asn {version}\n", "")
