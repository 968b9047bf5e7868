"""Persons (wearers, protected persons) and the contacts notified (judge, prosecutor, SPIP)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from vigie.cases.access import persons_visible_to
from vigie.cases.errors import CaseNotFound, CaseRefused
from vigie.cases.forms import ContactIn, PersonIn
from vigie.store import audit
from vigie.store.models import Contact, Person, Placement, User


def create_person(session: Session, form: PersonIn, actor: str) -> Person:
    if (form.home_lat is None) != (form.home_lon is None):
        raise CaseRefused("a home position needs both home_lat and home_lon", "home_lat")
    person = Person(**form.model_dump())
    session.add(person)
    session.flush()
    audit.record(session, actor, "create", f"person:{person.id}")
    return person


def visible_persons(session: Session, user: User) -> list[Person]:
    persons = list(
        session.scalars(select(Person).where(persons_visible_to(user)).order_by(Person.id))
    )
    audit.record(session, user.username, "read", "persons", {"ids": [p.id for p in persons]})
    return persons


def visible_person(session: Session, user: User, person_id: int) -> Person:
    person = session.scalars(
        select(Person).where(Person.id == person_id, persons_visible_to(user))
    ).one_or_none()
    if person is None:
        raise CaseNotFound("person", person_id)
    audit.record(session, user.username, "read", f"person:{person.id}")
    return person


def is_protected(session: Session, person_id: int) -> bool:
    """Whether this person is the protected person of some placement (a BAR's victim)."""
    query = select(Placement.id).where(Placement.protected_person_id == person_id).limit(1)
    return session.scalars(query).first() is not None


def create_contact(session: Session, form: ContactIn, actor: str) -> Contact:
    if form.user_id is not None:
        user = session.get(User, form.user_id)
        if user is None:
            raise CaseRefused(f"user {form.user_id} does not exist", "user_id")
        if user.role != form.role:
            raise CaseRefused(
                f"user {user.username!r} has role {user.role!r}, not {form.role!r}", "user_id"
            )
    contact = Contact(**form.model_dump())
    session.add(contact)
    session.flush()
    audit.record(session, actor, "create", f"contact:{contact.id}", {"role": form.role})
    return contact


def contacts(session: Session) -> list[Contact]:
    return list(session.scalars(select(Contact).order_by(Contact.id)))


def contact_of_role(session: Session, contact_id: int, role: str, field: str) -> Contact:
    contact = session.get(Contact, contact_id)
    if contact is None:
        raise CaseRefused(f"contact {contact_id} does not exist", field)
    if contact.role != role:
        raise CaseRefused(f"contact {contact_id} is a {contact.role}, not a {role}", field)
    return contact
