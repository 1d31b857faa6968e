"""GraphQL execution with short paths for the fields that make up most of a page.

graphql-core resolves every field the same way: a response path, a resolve-info object, the
resolver (for strawberry, a chain of wrappers that converts arguments and builds an `Info`), then
`complete_value` level by level with an awaitable check at each step. A portal page of 50 tasks
is ~760 fields, and that machinery was most of the request's time in Python.

`FastPathExecutor` keeps graphql-core's semantics and takes three shorter paths, chosen once per
(type, field) from the strawberry definition:

- `LEAF`: a scalar or enum field without resolver, extension or arguments is read with `getattr`
  and coerced by its type — what strawberry's resolver and `complete_leaf_value` would do.
  Anything unusual about the value (a missing attribute, None for a non-null field, a value the
  type refuses, an awaitable, an exception object) goes through graphql-core's `execute_field`
  instead, so the error, its path and the nulling are graphql-core's own.
- `ATTRIBUTE`: an object or list field without resolver, extension or arguments is read with
  `getattr` and completed by graphql-core's `complete_value`.
- `RESOLVER`: a field whose resolver takes only `self` and/or `info` (no arguments, no field
  extension, so no permission class) calls that function directly with a strawberry `Info`, then
  completes like graphql-core.

Objects and lists of objects (of types without `is_type_of`) are completed without
`complete_value`'s type dispatch at every level, with graphql-core's handling of errors in items
and of awaitable items; a value it would refuse or read as null goes to graphql-core's own
`complete_value` before anything of it has run.

A field with a permission class, arguments or any field extension always takes graphql-core's
path, and so does every field when a schema extension wraps resolvers (middleware). Nothing here
reads data or decides what a caller may see.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from enum import Enum
from typing import Any, NamedTuple, TypeVar

from graphql import (
    GraphQLField,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    Undefined,
    get_named_type,
    is_leaf_type,
    is_list_type,
    is_non_null_type,
    is_object_type,
)
from graphql.execution.collect_fields import FieldDetailsList, GroupedFieldSet
from graphql.pyutils import AwaitableOrValue, Path, gather_with_cancel
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types.field import StrawberryField

# values that are never awaitable: no awaitable check for them
_PLAIN = frozenset({str, int, float, bool})
_MISSING: Any = object()


class Kind(Enum):
    LEAF = "leaf"
    ATTRIBUTE = "attribute"
    RESOLVER = "resolver"


_LEAF = Kind.LEAF


class Plan(NamedTuple):
    kind: Kind
    field_def: GraphQLField
    attribute: str = ""
    coerce: Callable[[Any], Any] | None = None
    non_null: bool = False
    call: Callable[[Any, Any], Any] | None = None


class _NamedField(NamedTuple):
    """What `complete_value` reads of a resolve info on these paths: the names in its error
    messages (the types completed here have no `is_type_of` and no `@stream`)."""

    parent_type: GraphQLObjectType
    field_name: str


def plan_field(schema: GraphQLSchema, parent_type: GraphQLObjectType, name: str) -> Plan | None:
    """The short path for `parent_type.name`, or None when it needs graphql-core's own."""
    field_def = schema.get_field(parent_type, name)
    if field_def is None or field_def.args:
        return None
    definition = (field_def.extensions or {}).get("strawberry-definition")
    if not isinstance(definition, StrawberryField) or definition.extensions:
        return None
    field_type = field_def.type
    named = get_named_type(field_type)
    if not (is_leaf_type(named) or (is_object_type(named) and named.is_type_of is None)):
        return None  # interfaces and unions resolve their runtime type: graphql-core's path
    resolver = definition.base_resolver
    if resolver is None:
        # strawberry's resolver for a field that only reads an attribute (schema_converter)
        resolve = field_def.resolve
        if resolve is None or not resolve.__qualname__.endswith("._get_basic_result"):
            return None
        if definition.default_resolver is not getattr:
            return None
        non_null = is_non_null_type(field_type)
        inner = field_type.of_type if non_null else field_type  # type: ignore[attr-defined]
        if is_leaf_type(inner):
            return Plan(Kind.LEAF, field_def, definition.python_name, inner.coerce_output_value,
                        non_null)  # fmt: skip
        return Plan(Kind.ATTRIBUTE, field_def, definition.python_name)
    if resolver.arguments or resolver.root_parameter or resolver.parent_parameter:
        return None
    call = _direct_call(resolver, definition, schema._strawberry_schema.config.info_class)  # type: ignore[attr-defined]
    if call is None:
        return None
    return Plan(Kind.RESOLVER, field_def, call=call)


def _direct_call(
    resolver: Any, definition: StrawberryField, info_class: Any
) -> Callable[[Any, Any], Any] | None:
    """`(source, resolve_info) -> result` for a resolver whose only parameters are self and
    info, with the strawberry `Info` its own wrapper would have built."""
    func = resolver.wrapped_func
    if not callable(func):
        return None
    wants_self = resolver.self_parameter is not None
    info_parameter = resolver.info_parameter
    if info_parameter is None:
        return (lambda source, _raw: func(source)) if wants_self else (lambda _s, _r: func())
    name = info_parameter.name

    def call(source: Any, raw: Any) -> Any:
        info = info_class(_raw_info=raw, _field=definition)
        return func(source, **{name: info}) if wants_self else func(**{name: info})

    return call


class FastPathExecutor(StrawberryGraphQLCoreExecutionContext):
    """strawberry's executor with the short paths above."""

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: GroupedFieldSet,
        position_context: Any,
    ) -> AwaitableOrValue[dict[str, Any]]:
        manager = self.middleware_manager
        if manager is not None and manager.middlewares:
            # extensions that wrap every resolver must see every field
            return super().execute_fields(
                parent_type, source_value, path, grouped_field_set, position_context
            )
        plans = _plans(self.schema, parent_type)
        results: dict[str, Any] = {}
        is_awaitable = self.is_awaitable
        awaitable_fields: list[str] = []
        try:
            for response_name, field_details_list in grouped_field_set.items():
                name = field_details_list[0].node.name.value
                plan = plans.get(name, _MISSING)
                if plan is _MISSING:
                    plan = plans[name] = plan_field(self.schema, parent_type, name)
                result: Any = _MISSING
                if plan is not None:
                    if plan.kind is _LEAF:
                        result = _leaf(plan, source_value, is_awaitable)
                        if result is not _MISSING:
                            results[response_name] = result  # coerced: never awaitable
                            continue
                    else:
                        result = self._composite(
                            plan, parent_type, source_value, field_details_list,
                            Path(path, response_name, parent_type.name), position_context,
                        )  # fmt: skip
                if result is _MISSING:
                    result = self.execute_field(
                        parent_type,
                        source_value,
                        field_details_list,
                        Path(path, response_name, parent_type.name),
                        position_context,
                    )
                    if result is Undefined:
                        continue
                results[response_name] = result
                if result.__class__ is not dict and is_awaitable(result):
                    awaitable_fields.append(response_name)
        except Exception:
            if awaitable_fields:
                self.settle_in_background([results[field] for field in awaitable_fields])
            raise
        if not awaitable_fields:
            return results
        return _gathered(results, awaitable_fields)

    def _composite(
        self,
        plan: Plan,
        parent_type: GraphQLObjectType,
        source: Any,
        field_details_list: FieldDetailsList,
        path: Path,
        position_context: Any,
    ) -> Any:
        """An ATTRIBUTE or RESOLVER field, as `execute_field` would complete it; _MISSING when
        graphql-core must take it from the start (nothing has run yet then)."""
        return_type = plan.field_def.type
        if plan.kind is Kind.ATTRIBUTE:
            try:
                value = getattr(source, plan.attribute)
            except Exception:
                return _MISSING
            if value.__class__ not in (list, dict) and (
                isinstance(value, Exception) or self.is_awaitable(value)
            ):
                return _MISSING
            info: Any = _NamedField(parent_type, field_details_list[0].node.name.value)
        else:
            info = self.build_resolve_info(
                plan.field_def, [d.node for d in field_details_list], parent_type, path
            )
        try:
            if plan.kind is Kind.RESOLVER:
                value = plan.call(source, info)  # type: ignore[misc]
                if self.is_awaitable(value):
                    return self.complete_awaitable_value(
                        return_type, field_details_list, info, path, value, position_context
                    )
            completed = self.complete_value(
                return_type, field_details_list, info, path, value, position_context
            )
            if completed.__class__ is not dict and self.is_awaitable(completed):
                return self._completed_later(completed, return_type, field_details_list, path)
        except Exception as raw_error:
            self.handle_field_error(raw_error, return_type, field_details_list, path)
            return None
        return completed

    def complete_value(
        self,
        return_type: GraphQLOutputType,
        field_details_list: FieldDetailsList,
        info: Any,
        path: Path,
        result: Any,
        position_context: Any,
    ) -> AwaitableOrValue[Any]:
        """graphql-core's `complete_value`, with objects and lists of objects (the types here
        have no `is_type_of`) completed without its type dispatch at every level. A value it
        would refuse or read as null (None, Undefined, an exception, a non-list, a None item)
        goes to graphql-core before anything of it has run."""
        if result is not None and result is not Undefined and not isinstance(result, Exception):
            shape = _shape(self.schema, return_type)
            if shape is not None:
                completed = self._complete_objects(
                    shape, field_details_list, path, result, position_context
                )
                if completed is not _MISSING:
                    return completed
        return super().complete_value(
            return_type, field_details_list, info, path, result, position_context
        )

    def _complete_objects(
        self,
        shape: Shape,
        field_details_list: FieldDetailsList,
        path: Path,
        result: Any,
        position_context: Any,
    ) -> Any:
        if shape.item_type is None:
            collected = self.collect_subfields(shape.object_type, field_details_list)
            if collected[1]:
                return _MISSING  # @defer: graphql-core's incremental delivery
            return self.execute_fields(
                shape.object_type, result, path, collected[0], position_context
            )
        if result.__class__ is not list and result.__class__ is not tuple:
            return _MISSING
        is_awaitable = self.is_awaitable
        for item in result:
            if item is None or isinstance(item, Exception) or is_awaitable(item):
                return _MISSING
        if any(details.node.directives for details in field_details_list):
            return _MISSING  # @stream and the like: graphql-core's path
        collected = self.collect_subfields(shape.object_type, field_details_list)
        if collected[1]:
            return _MISSING
        grouped = collected[0]
        object_type, item_type = shape.object_type, shape.item_type
        completed: list[Any] = []
        awaitable_indices: list[int] = []
        try:
            for index, item in enumerate(result):
                item_path = Path(path, index, None)
                try:
                    value = self.execute_fields(
                        object_type, item, item_path, grouped, position_context
                    )
                    if value.__class__ is not dict and is_awaitable(value):
                        value = self._completed_later(
                            value, item_type, field_details_list, item_path
                        )
                        awaitable_indices.append(index)
                except Exception as raw_error:
                    self.handle_field_error(raw_error, item_type, field_details_list, item_path)
                    value = None
                completed.append(value)
        except Exception:
            if awaitable_indices:
                self.settle_in_background([completed[index] for index in awaitable_indices])
            raise
        if not awaitable_indices:
            return completed
        return _gathered(completed, awaitable_indices)

    async def _completed_later(
        self,
        completed: Awaitable[Any],
        return_type: GraphQLOutputType,
        field_details_list: FieldDetailsList,
        path: Path,
    ) -> Any:
        try:
            return await completed
        except Exception as raw_error:
            self.handle_field_error(raw_error, return_type, field_details_list, path)
            return None


def _leaf(plan: Plan, source: Any, is_awaitable: Callable[[Any], bool]) -> Any:
    """The completed value of a LEAF field, or _MISSING when graphql-core must answer (and
    report) it."""
    try:
        value = getattr(source, plan.attribute)
    except Exception:
        return _MISSING
    if value is None or value is Undefined:
        return _MISSING if plan.non_null else None
    if value.__class__ not in _PLAIN and (isinstance(value, Exception) or is_awaitable(value)):
        return _MISSING
    try:
        coerced = plan.coerce(value)  # type: ignore[misc]
    except Exception:
        return _MISSING
    if coerced is None or coerced is Undefined:
        return _MISSING
    return coerced


C = TypeVar("C", dict[str, Any], list[Any])


async def _gathered(container: C, keys: list[Any]) -> C:
    """graphql-core's own way of awaiting what returned awaitables: the fields of an object (by
    response name) or the items of a list (by index), in place."""
    if len(keys) == 1:
        container[keys[0]] = await container[keys[0]]
    else:
        awaited = await gather_with_cancel(*(container[key] for key in keys))
        for key, value in zip(keys, awaited, strict=True):
            container[key] = value
    return container


def _plans(schema: GraphQLSchema, parent_type: GraphQLObjectType) -> dict[str, Plan | None]:
    """The plans of one object type of one schema, filled in as its fields are first seen."""
    by_type: dict[str, dict[str, Plan | None]] | None = getattr(schema, "_tenantgraph_plans", None)
    if by_type is None:
        by_type = {}
        schema._tenantgraph_plans = by_type  # type: ignore[attr-defined]
    plans = by_type.get(parent_type.name)
    if plans is None:
        plans = by_type[parent_type.name] = {}
    return plans


class Shape(NamedTuple):
    """An object type, or a list of it (`item_type`: the list's item type, maybe non-null)."""

    object_type: GraphQLObjectType
    item_type: GraphQLOutputType | None = None


def _shape(schema: GraphQLSchema, return_type: GraphQLOutputType) -> Shape | None:
    """What `complete_value` may complete directly for `return_type`, cached per schema."""
    shapes: dict[int, Shape | None] | None = getattr(schema, "_tenantgraph_shapes", None)
    if shapes is None:
        shapes = {}
        schema._tenantgraph_shapes = shapes  # type: ignore[attr-defined]
    key = id(return_type)  # the schema holds its types: an id is not reused while it lives
    if key in shapes:
        return shapes[key]
    inner = return_type.of_type if is_non_null_type(return_type) else return_type  # type: ignore[attr-defined]
    shape: Shape | None = None
    if is_object_type(inner) and inner.is_type_of is None:
        shape = Shape(inner)
    elif is_list_type(inner):
        item_type = inner.of_type
        item = item_type.of_type if is_non_null_type(item_type) else item_type
        if is_object_type(item) and item.is_type_of is None:
            shape = Shape(item, item_type)
    shapes[key] = shape
    return shape
