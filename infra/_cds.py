"""Class-data archives for the two JVM services, recorded once at build time.

Each JVM service is started once in a scratch directory with `-XX:ArchiveClassesAtExit`; the
JVM writes the classes it loaded when it exits. Later starts map that archive instead of
loading and verifying thousands of classes: Kafka's start costs about a third less CPU
(measured 3.7-4.9 s -> 2.6 s), which matters most when several test sessions share two cores.
The archive sits next to the jars it describes and goes when they are rebuilt.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from infra._errors import ParleyError
from infra._kafka import Kafka
from infra._oidc import OidcProvider
from infra._ports import find_free_ports
from infra._proc import terminate
from infra._service import Service

__all__ = ["missing_archives", "train_archives"]


def _services(scratch: Path) -> list[Service]:
    kafka_port, controller_port, oidc_port = find_free_ports(3)
    return [
        Kafka(scratch, kafka_port, controller_port=controller_port, die_with_parent=True),
        OidcProvider(scratch, oidc_port, die_with_parent=True),
    ]


def missing_archives() -> list[str]:
    probe = _services(Path("/nonexistent"))
    return [s.name for s in probe if s.cds_archive is not None and not s.cds_archive.exists()]


def train_archives() -> list[str]:
    """Record the missing archives; returns the services that got one. Failure is not fatal:
    without an archive the services start the ordinary way."""
    scratch = Path(tempfile.mkdtemp(prefix="parley-cds-"))
    todo = [s for s in _services(scratch) if s.name in missing_archives()]
    trained = []
    try:
        for svc in todo:
            svc.dump_cds = True
            svc.launch()
        for svc in todo:
            svc.wait_ready(time.monotonic() + svc.start_deadline_s)
    except ParleyError:
        pass
    finally:
        terminate({s.proc.pid: s.marker for s in todo if s.proc is not None}, deadline_s=60)
        for svc in todo:
            if svc.proc is not None:
                svc.proc.wait()
        shutil.rmtree(scratch, ignore_errors=True)
    for svc in todo:
        dump, archive = svc.cds_dump_path, svc.cds_archive
        if dump is not None and archive is not None and dump.exists():
            dump.replace(archive)
            trained.append(svc.name)
    return trained
