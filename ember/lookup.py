"""Reading one row by its id, of any project or of one, and the NOT_FOUND a
call ends with when there is none: the same message and reason for every resource."""

from __future__ import annotations

import re

import peewee

from ember.errors import NotFound
from ember.prepared import Param, Prepared

_statements: dict[tuple[type[peewee.Model], bool], Prepared] = {}


def kind_of(model: type[peewee.Model]) -> str:
    """What errors call a row of the model: its name in snake_case (VolumeType: volume_type)."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", model.__name__).lower()


def _statement(model: type[peewee.Model], scoped: bool) -> Prepared:
    statement = _statements.get((model, scoped))
    if statement is None:
        def build():
            query = model.select().where(model.id == Param("id"))
            return query.where(model.project_id == Param("project")) if scoped else query

        statement = _statements[(model, scoped)] = Prepared(build)
    return statement


def find(model: type[peewee.Model], row_id: str, project_id: str | None = None) -> peewee.Model | None:
    """The row with this id (of that project, when one is given), or None."""
    scoped = project_id is not None
    return _statement(model, scoped).first(id=row_id, **({"project": project_id} if scoped else {}))


def get(model: type[peewee.Model], row_id: str, project_id: str | None = None) -> peewee.Model:
    """As find(), but NOT_FOUND ("volume <id> not found", VOLUME_NOT_FOUND) when there is none."""
    row = find(model, row_id, project_id)
    if row is None:
        raise NotFound(kind_of(model), row_id)
    return row
