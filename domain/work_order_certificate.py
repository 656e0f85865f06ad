"""The completion certificate (竣工出厂合格证) of a work order: for whole-vehicle and assembly
repairs (domain/repair_guarantee.py: the visit's class from its approved labor operations) the
regulation has the shop issue one, signed by the quality inspector, before the car leaves.

It is recorded once every job has passed QC (the visit ready for settlement or settled, not
yet delivered): the certificate's number and the inspector who signed it. A visit of the
assembly class is not delivered without it (409 `certificate_required`); a minor repair or a
second-level maintenance may have one recorded and is delivered without one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from domain.common import Audit, InvalidInput, require
from domain.repair_guarantee import class_of_visit
from domain.work_order_state import WorkOrderError, WorkOrderState

MAJOR_CLASSES = frozenset({"assembly"})  # whole-vehicle or assembly repair
MAX_CERT_NO = 40
MAX_INSPECTOR = 64
CERTIFIABLE = ("ready_for_settlement", "settled")


class CertificateRequired(WorkOrderError):
    """A major repair is delivered only with its completion certificate (HTTP 409)."""


def _text(value: str | None, field: str, what: str, most: int) -> str:
    text = (value or "").strip()
    require(bool(text), InvalidInput(f"{what} is required", field=field))
    require(len(text) <= most, InvalidInput(f"{what} is at most {most} characters", field=field))
    return text


def certificate_input(cert_no: str | None, inspector: str | None) -> tuple[str, str]:
    """(certificate number, inspector) as kept; 422 naming the field."""
    return (_text(cert_no, "cert_no", "the certificate number", MAX_CERT_NO),
            _text(inspector, "inspector", "the inspector", MAX_INSPECTOR))


class WorkOrderCertificate(WorkOrderState):
    """The completion-certificate command of `WorkOrder` and the delivery rule it sets."""

    _completion_certified: Callable[..., None]

    def repair_class(self) -> str:
        """The visit's class from its approved labor operations (minor without any)."""
        return class_of_visit(line["op_code"] for line in self.lines.values()
                              if line["kind"] == "labor" and line["status"] == "approved")

    @property
    def certificate(self) -> dict[str, Any] | None:
        return getattr(self, "completion_certificate", None)

    def certify_completion(self, audit: Audit, cert_no: str | None,
                           inspector: str | None) -> None:
        number, signed_by = certificate_input(cert_no, inspector)
        require(self.status in CERTIFIABLE, WorkOrderError(
            f"work order is {self.status}: the completion certificate follows QC passed on "
            f"every job, before delivery", work_order_status=self.status))
        held = self.certificate
        require(held is None, WorkOrderError(
            f"work order {self.number} has completion certificate {held and held['cert_no']}",
            cert_no=held and held["cert_no"]))
        self._completion_certified(audit, number, signed_by, self.repair_class())

    def require_certificate(self) -> None:
        """Before delivery: a major repair has its completion certificate."""
        repair_class = self.repair_class()
        require(repair_class not in MAJOR_CLASSES or self.certificate is not None,
                CertificateRequired(
                    f"work order {self.number} is an {repair_class} repair: its completion "
                    f"certificate (竣工出厂合格证) is recorded before delivery "
                    f"(its completion-certificate command)",
                    repair_class=repair_class, certificate_required=True))
