"""Statements that peewee turns into SQL once per database instead of on every
call: on the request paths, building the SQL cost peewee ten times what the
database took to run it. Parameters are named Param nodes in the query."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import peewee

from ember.db import database


@dataclasses.dataclass(frozen=True)
class _Slot:
    name: str
    convert: Callable[[Any], Any] | None


class Param(peewee.Node):
    """A value supplied at execution. Compared with a field it is converted
    like that field's values; elsewhere (SET, VALUES) pass the field."""

    def __init__(self, name: str, field: peewee.Field | None = None):
        super().__init__()
        self.name, self.field = name, field

    def __sql__(self, ctx):
        convert = self.field.db_value if self.field is not None else ctx.state.converter
        ctx._values.append(_Slot(self.name, convert))
        return ctx.literal(ctx.state.param or "?")


def params_for(fields: list[peewee.Field]) -> dict[peewee.Field, Param]:
    """{field: Param(field.name, field)}, for the SET of an update."""
    return {f: Param(f.name, f) for f in fields}


class Prepared:
    """A query whose SQL is built once per database by `build()`; each
    execution binds the named values of its Params."""

    def __init__(self, build: Callable[[], peewee.BaseQuery]):
        self._build = build
        self._compiled: dict[type, tuple[peewee.BaseQuery, str, list]] = {}

    def _compile(self) -> tuple[peewee.BaseQuery, str, list]:
        # The SQL differs only by dialect (quoting, parameter style).
        dialect = type(database.obj)
        compiled = self._compiled.get(dialect)
        if compiled is None:
            query = self._build()
            sql, params = query.sql()
            compiled = self._compiled[dialect] = (query, sql, params)
        return compiled

    def _cursor(self, values: dict[str, Any]):
        query, sql, params = self._compile()
        bound = []
        for p in params:
            if isinstance(p, _Slot):
                value = values[p.name]
                bound.append(p.convert(value) if p.convert and value is not None else value)
            else:
                bound.append(p)
        return query, database.obj.execute_sql(sql, bound)

    def execute(self, **values: Any) -> int:
        """Runs an INSERT, UPDATE or DELETE; the number of rows it changed."""
        return self._cursor(values)[1].rowcount

    def rows(self, **values: Any) -> list[peewee.Model]:
        """Runs a SELECT of one model's columns; the rows as model instances."""
        query, cursor = self._cursor(values)
        model = query.model
        fields = [model._meta.columns[column[0]] for column in cursor.description]
        return [
            model(__no_default__=True, **{f.name: f.python_value(v) for f, v in zip(fields, row)})
            for row in cursor.fetchall()
        ]

    def first(self, **values: Any) -> peewee.Model | None:
        found = self.rows(**values)
        return found[0] if found else None


class PreparedInsert:
    """INSERT of a whole row of `model`: fields not given take their defaults
    at each execution, never once at compile time."""

    def __init__(self, model: type[peewee.Model]):
        self.model = model
        self.fields = model._meta.sorted_fields
        self._statement = Prepared(lambda: model.insert(params_for(self.fields)))

    def execute(self, **values: Any) -> None:
        row = {}
        for f in self.fields:
            if f.name in values:
                row[f.name] = values[f.name]
            else:
                default = f.default
                row[f.name] = default() if callable(default) else default
        self._statement.execute(**row)
