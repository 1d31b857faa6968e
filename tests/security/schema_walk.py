"""Walking the exported schema: every root field, a document that selects what it returns, and
argument values built from the types alone, so that the security tests grow with the schema.

A field, argument or input field the builder has no rule for raises `NoRule`: a new operation
fails the sweep loudly until someone says what its ids are, instead of being skipped quietly."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from graphql import (
    GraphQLArgument,
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    Undefined,
    build_schema,
    get_named_type,
)

from schema import export_sdl


class NoRule(AssertionError):
    """The builder met a field it cannot fill; teach it (see `ID_ARGUMENTS`) rather than skip."""


def graphql_schema() -> GraphQLSchema:
    """The schema as clients see it: built from the exported SDL."""
    return build_schema(export_sdl())


@dataclass(frozen=True)
class Operation:
    kind: str  # "query" or "mutation"
    field_name: str
    field: GraphQLField

    @property
    def name(self) -> str:
        return f"{self.kind} {self.field_name}"


def operations(schema: GraphQLSchema) -> Iterator[Operation]:
    for kind, root in (("query", schema.query_type), ("mutation", schema.mutation_type)):
        assert root is not None
        for name, field in root.fields.items():
            yield Operation(kind, name, field)


# --- which object an ID names -----------------------------------------------------------------

# Argument and input-field names that always name one type of object.
ID_ARGUMENTS: dict[str, str] = {
    "userId": "User",
    "assigneeId": "User",
    "staffId": "User",
    "clientId": "User",
    "actorId": "User",
    "serviceId": "Service",
    "taskId": "Task",
    "templateId": "TaskTemplate",
    "tenantId": "Tenant",
}
# Types a global id can name (what `encode_id` is called with).
ID_TYPES = frozenset(
    {
        "AuditEntry",
        "AvailabilitySlot",
        "Booking",
        "ComplianceRecord",
        "HealthLog",
        "Notification",
        "Service",
        "ServiceRequest",
        "Task",
        "TaskTemplate",
        "Tenant",
        "User",
    }
)


def id_type(field_name: str, field: GraphQLField | None, arg_name: str) -> str:
    """The type of object an ID argument names: by the argument's name, else (for `id` and
    `ids`) by the type the field returns, else by the longest type name in the field's name
    (`deleteAvailabilitySlot` → AvailabilitySlot)."""
    if arg_name in ID_ARGUMENTS:
        return ID_ARGUMENTS[arg_name]
    if arg_name in {"id", "ids"}:
        if field is not None:
            returned = get_named_type(field.type)
            if returned is not None and returned.name in ID_TYPES:
                return returned.name
        lowered = field_name.lower()
        named = [t for t in ID_TYPES if t.lower() in lowered]
        if named:
            return max(named, key=len)
    raise NoRule(f"{field_name}({arg_name}): which type of object does this ID name?")


# --- argument values --------------------------------------------------------------------------


@dataclass(frozen=True)
class Values:
    """Where argument values come from: `ids(type)` the global ids to use for a type, `strings`
    values for named string fields (`Input.field` or bare `field`), `now` the clock."""

    ids: Callable[[str], list[str]]
    strings: dict[str, str]
    now: datetime
    tag: str = ""  # appended to made-up names, so that two calls do not collide


_DATETIMES: dict[str, timedelta] = {
    # after a moment a week ahead at 10:00 UTC; windows are wide so that a leaked row would fall
    # inside them
    "from": timedelta(days=-3650),
    "to": timedelta(days=3650),
    "dueBefore": timedelta(days=3650),
    "startsAt": timedelta(0),
    "endsAt": timedelta(hours=1),
    "dueAt": timedelta(days=7),
}
_INTS: dict[str, int] = {
    "first": 5,
    "capacity": 1,
    "priceCents": 1000,
    "durationMinutes": 60,
    "slotMinutes": 30,
    "sessionTtlMinutes": 60,
}
_STRINGS: dict[str, str] = {
    "email": "nobody@sweep.example",
    "contactEmail": "visitor@sweep.example",
    "replyToEmail": "office@sweep.example",
    "webhookUrl": "https://hooks.sweep.example/in",
    "timezone": "Europe/London",
    "locale": "en",
    "slug": "sweep-slug",
    "domain": "portal.sweep.example",
    "calendarProvider": "sweep-calendar",
}


def _string(owner: str, name: str, values: Values) -> str:
    for key in (f"{owner}.{name}", name):
        if key in values.strings:
            return values.strings[key]
    if name in _STRINGS:
        return _STRINGS[name].replace("sweep", f"sweep{values.tag}", 1)
    return f"Sweep {name}{values.tag}"


def _scalar(scalar: GraphQLScalarType, owner: str, name: str, op: Operation, values: Values) -> Any:
    if scalar.name == "ID":
        found = values.ids(id_type(op.field_name, op.field if owner == "" else None, name))
        assert found, f"no id to use for {op.name}({name})"
        return found[0]
    if scalar.name == "String":
        return _string(owner, name, values)
    if scalar.name == "Int":
        return _INTS.get(name, 1)
    if scalar.name == "Boolean":
        return True
    if scalar.name == "Float":
        return 1.0
    if scalar.name in {"DateTime", "Date"}:
        if name not in _DATETIMES:
            raise NoRule(f"{op.name}: which {scalar.name} suits `{owner or 'argument'}.{name}`?")
        base = (values.now + timedelta(days=7)).replace(hour=10, minute=0, second=0, microsecond=0)
        moment = base + _DATETIMES[name]
        return moment.isoformat() if scalar.name == "DateTime" else moment.date().isoformat()
    if scalar.name == "JSON":
        return {}
    raise NoRule(f"{op.name}: no value for the scalar {scalar.name} of `{owner}.{name}`")


def build_value(
    type_: GraphQLInputType, owner: str, name: str, op: Operation, values: Values
) -> Any:
    """A value for an argument or input field of `type_`, named `name` inside `owner` (an input
    type's name, or "" for a field's own argument)."""
    if isinstance(type_, GraphQLNonNull):
        return build_value(type_.of_type, owner, name, op, values)
    if isinstance(type_, GraphQLList):
        inner = get_named_type(type_)
        if isinstance(inner, GraphQLScalarType) and inner.name == "ID":
            field = op.field if owner == "" else None
            return values.ids(id_type(op.field_name, field, name))[:2]
        return [build_value(type_.of_type, owner, name, op, values)]
    if isinstance(type_, GraphQLEnumType):
        return next(iter(type_.values))
    if isinstance(type_, GraphQLInputObjectType):
        built: dict[str, Any] = {}
        for field_name, field in type_.fields.items():
            wanted = (
                (isinstance(field.type, GraphQLNonNull) and field.default_value is Undefined)
                or _names_an_id(field.type)
                or field_name in {"from", "to"}
            )
            if wanted or f"{type_.name}.{field_name}" in values.strings:
                built[field_name] = build_value(field.type, type_.name, field_name, op, values)
        if not built and type_.fields:
            # "only the fields given are changed": give one, so the call gets past "nothing to
            # change" to the lookup
            first, field = next(iter(type_.fields.items()))
            built[first] = build_value(field.type, type_.name, first, op, values)
        return built
    if isinstance(type_, GraphQLScalarType):
        return _scalar(type_, owner, name, op, values)
    raise NoRule(f"{op.name}: no value for {type_} of `{name}`")


def _names_an_id(type_: GraphQLInputType) -> bool:
    named = get_named_type(type_)
    return isinstance(named, GraphQLScalarType) and named.name == "ID"


def _wanted(arg: GraphQLArgument) -> bool:
    """Required arguments, every ID and every input object are always given."""
    required = isinstance(arg.type, GraphQLNonNull) and arg.default_value is Undefined
    named = get_named_type(arg.type)
    return required or _names_an_id(arg.type) or isinstance(named, GraphQLInputObjectType)


def build_arguments(op: Operation, values: Values) -> dict[str, Any]:
    return {
        name: build_value(arg.type, "", name, op, values)
        for name, arg in op.field.args.items()
        if _wanted(arg) or name in {"first", "from", "to"}
    }


# --- documents --------------------------------------------------------------------------------


def _type_ref(type_: Any) -> str:
    return str(type_)


def selection(type_: GraphQLNamedType, depth: int = 3) -> str:
    """Every scalar field of an object type, and its object fields `depth` levels down (fields
    that need arguments are left out)."""
    if not isinstance(type_, GraphQLObjectType):
        return ""
    parts: list[str] = []
    for name, field in type_.fields.items():
        if any(isinstance(a.type, GraphQLNonNull) for a in field.args.values()):
            continue
        named = get_named_type(field.type)
        if isinstance(named, GraphQLObjectType):
            if depth > 1:
                parts.append(f"{name} {{ {selection(named, depth - 1)} }}")
        else:
            parts.append(name)
    return " ".join(parts) or "__typename"


def document(op: Operation, arguments: dict[str, Any]) -> str:
    """A document calling `op` with `arguments` as variables, selecting what it returns."""
    declared = ", ".join(f"${name}: {_type_ref(op.field.args[name].type)}" for name in arguments)
    passed = ", ".join(f"{name}: ${name}" for name in arguments)
    named = get_named_type(op.field.type)
    body = f"{{ {selection(named)} }}" if isinstance(named, GraphQLObjectType) else ""
    header = f"{op.kind} Sweep({declared})" if declared else f"{op.kind} Sweep"
    call = f"{op.field_name}({passed})" if passed else op.field_name
    return f"{header} {{ {call} {body} }}"
