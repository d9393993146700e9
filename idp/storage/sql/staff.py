"""Console roles of people (table ``staff_roles``; what they mean: ``idp.domain.staff``)."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from idp.storage.sql.database import rowcount
from idp.storage.sql.models import StaffRole, User


def roles_of(db: Session, user_id: int) -> list[str]:
    return list(db.scalars(select(StaffRole.role).where(StaffRole.user_id == user_id).order_by(StaffRole.role)))


def add_role(db: Session, user_id: int, role: str, *, now: float, granted_by: str) -> bool:
    """Give ``role``; False when the user already holds it (nothing written)."""
    if db.scalar(select(StaffRole.id).where(StaffRole.user_id == user_id, StaffRole.role == role)) is not None:
        return False
    db.add(StaffRole(user_id=user_id, role=role, granted_at=now, granted_by=granted_by[:200]))
    db.flush()
    return True


def remove_role(db: Session, user_id: int, role: str) -> bool:
    """Take ``role`` away; False when the user did not hold it."""
    return rowcount(db.execute(delete(StaffRole).where(StaffRole.user_id == user_id, StaffRole.role == role))) > 0


def holders(db: Session, role: str) -> list[User]:
    """The people who hold ``role``, by registration number."""
    query = select(User).join(StaffRole, StaffRole.user_id == User.id).where(StaffRole.role == role)
    return list(db.scalars(query.order_by(User.registration_number_norm)))
