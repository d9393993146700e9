"""Purchase orders in the portal's own SQLite database, seeded for the demo vendor."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Float, Integer, String, func, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from ..common.i18n import N_
from ..common.storage import RPDatabase

DAY = 86400


class ContentBase(DeclarativeBase):
    pass


class PurchaseOrder(ContentBase):
    __tablename__ = "purchase_orders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    #: The vendor's registration number at SPOM Login.
    vendor: Mapped[str] = mapped_column(String(64), index=True)
    vendor_name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(String(200))
    amount: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(20))  # awaiting approval | approved | invoiced | paid
    updated_at: Mapped[float] = mapped_column(Float)


#: The statuses as the pages name them (translated where shown).
STATUSES = {
    "awaiting approval": N_("awaiting approval"),
    "approved": N_("approved"),
    "invoiced": N_("invoiced"),
    "paid": N_("paid"),
}

SEED = [
    ("PO-2026-0412", "V3000001", "Acme Campus Services", N_("Cafeteria supplies, November"), 4820.00, "paid", -21),
    (
        "PO-2026-0457",
        "V3000001",
        "Acme Campus Services",
        N_("Exam hall cleaning (12 sessions)"),
        2160.00,
        "invoiced",
        -6,
    ),
    ("PO-2026-0489", "V3000001", "Acme Campus Services", N_("Graduation catering"), 9350.00, "awaiting approval", -1),
    ("PO-2026-0493", "V3000002", "Northwind Lab Equipment", N_("Oscilloscopes (4)"), 6120.00, "awaiting approval", -2),
    ("PO-2026-0501", "V3000002", "Northwind Lab Equipment", N_("Soldering stations (10)"), 1890.00, "approved", 0),
]


def init(database: RPDatabase, now: float) -> None:
    ContentBase.metadata.create_all(database.engine)
    with database.session() as db:
        if db.scalar(select(func.count()).select_from(PurchaseOrder)):
            return
        for number, vendor, name, description, amount, status, days in SEED:
            db.add(
                PurchaseOrder(
                    number=number,
                    vendor=vendor,
                    vendor_name=name,
                    description=description,
                    amount=amount,
                    status=status,
                    updated_at=now + days * DAY,
                )
            )
        db.commit()


def orders_for(database: RPDatabase, user: dict[str, Any]) -> list[PurchaseOrder]:
    """A vendor sees its own orders; staff see every order, those awaiting approval first."""
    with database.session() as db:
        query = select(PurchaseOrder)
        if user.get("role") == "vendor":
            query = query.where(PurchaseOrder.vendor == user.get("registration_number"))
        orders = list(db.scalars(query.order_by(PurchaseOrder.updated_at.desc())))
    if user.get("role") == "employee":
        orders.sort(key=lambda o: o.status != "awaiting approval")
    return orders
