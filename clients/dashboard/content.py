"""The dashboard's own content (its SQLite database): modules with progress and assessments with scores.

Seeded once per demo user, keyed by registration number (the provider's ``preferred_username``).
For an employee a module's progress is the cohort's average and an assessment's score its average
mark; for a vendor they are the supplier induction courses.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Float, Integer, String, func, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from ..common.i18n import N_
from ..common.storage import RPDatabase

DAY = 86400


class ContentBase(DeclarativeBase):
    pass


class Module(ContentBase):
    __tablename__ = "modules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner: Mapped[str] = mapped_column(String(64), index=True)
    code: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(200))
    progress: Mapped[int] = mapped_column(Integer)  # percent
    detail: Mapped[str] = mapped_column(String(200), default="")


class Assessment(ContentBase):
    __tablename__ = "assessments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner: Mapped[str] = mapped_column(String(64), index=True)
    module_code: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(200))
    due_at: Mapped[float] = mapped_column(Float)
    score: Mapped[float | None] = mapped_column(Float)
    max_score: Mapped[float] = mapped_column(Float)


SEED = {
    "S1000001": {  # Ada Lovelace, student
        "modules": [
            ("CS101", N_("Introduction to Programming"), 80, N_("12 of 15 units")),
            ("MA102", N_("Discrete Mathematics"), 55, N_("6 of 11 units")),
            ("EN110", N_("Academic Writing"), 30, N_("3 of 10 units")),
        ],
        "assessments": [
            ("CS101", N_("Project 2: Text adventure"), 5, None, 100),
            ("MA102", N_("Quiz 4: Graphs"), 9, None, 20),
            ("CS101", N_("Quiz 3: Loops"), -6, 18, 20),
            ("EN110", N_("Essay 1: Argument"), -12, 62, 100),
        ],
    },
    "E2000001": {  # Grace Hopper, lecturer: cohort progress and average marks
        "modules": [
            ("CS101", N_("Introduction to Programming"), 64, N_("124 students")),
            ("CS205", N_("Compilers"), 41, N_("38 students")),
        ],
        "assessments": [
            ("CS101", N_("Project 2: Text adventure"), 5, None, 100),
            ("CS205", N_("Parser assignment"), 12, None, 100),
            ("CS101", N_("Quiz 3: Loops"), -6, 15.2, 20),
        ],
    },
    "V3000001": {  # Acme Campus Services, vendor: supplier induction
        "modules": [
            ("SUP01", N_("Campus Safety Induction"), 100, N_("Required before site access")),
            ("SUP02", N_("Data Protection for Suppliers"), 40, N_("2 of 5 lessons")),
        ],
        "assessments": [("SUP02", N_("Data protection quiz"), 7, None, 10), ("SUP01", N_("Safety quiz"), -20, 9, 10)],
    },
}


def init(database: RPDatabase, now: float) -> None:
    """Create the tables and seed the demo users' content once."""
    ContentBase.metadata.create_all(database.engine)
    with database.session() as db:
        if db.scalar(select(func.count()).select_from(Module)):
            return
        for owner, data in SEED.items():
            for code, title, progress, detail in data["modules"]:
                db.add(Module(owner=owner, code=code, title=title, progress=progress, detail=detail))
            for code, title, days, score, max_score in data["assessments"]:
                db.add(
                    Assessment(
                        owner=owner,
                        module_code=code,
                        title=title,
                        due_at=now + days * DAY,
                        score=score,
                        max_score=max_score,
                    )
                )
        db.commit()


def for_user(database: RPDatabase, registration_number: str | None, now: float) -> dict[str, Any]:
    """Modules, upcoming and past assessments of one user."""
    with database.session() as db:
        modules = list(db.scalars(select(Module).where(Module.owner == registration_number).order_by(Module.code)))
        assessments = list(
            db.scalars(select(Assessment).where(Assessment.owner == registration_number).order_by(Assessment.due_at))
        )
    upcoming = [a for a in assessments if a.score is None and a.due_at > now]
    past = sorted((a for a in assessments if a not in upcoming), key=lambda a: a.due_at, reverse=True)
    return {"modules": modules, "upcoming": upcoming, "past": past}
