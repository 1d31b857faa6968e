"""Limits on a GraphQL document, checked during validation — before any resolver runs.

Strawberry's `QueryDepthLimiter` and `MaxAliasesLimiter` walk a fragment again at every spread,
so a document of a few hundred tokens whose fragments each spread the next one twice costs them
2**n steps; the first also fails on a spread of an unknown fragment. This rule walks each fragment
once (memoised, a cycle counts as empty: graphql-core's `NoFragmentCyclesRule` reports it) and
counts aliases with their multiplicity: a fragment with 5 aliases spread 10 times is 50 aliases.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
    specified_rules,
    validate,
)
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import SchemaExtension
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule

MAX_DEPTH = 10
MAX_ALIASES = 30
MAX_TOKENS = 2_000
MAX_OPERATIONS = 5
MAX_QUERY_CHARS = 50_000  # the document itself; the HTTP body is capped at 1 MB separately


@dataclass(frozen=True, slots=True)
class _Cost:
    depth: int = 0
    aliases: int = 0


class _Walker:
    def __init__(self, document: DocumentNode) -> None:
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.memo: dict[str, _Cost] = {}
        self.in_progress: set[str] = set()

    def selection_set(self, node: SelectionSetNode | None) -> _Cost:
        if node is None:
            return _Cost()
        depth, aliases = 0, 0
        for selection in node.selections:
            if isinstance(selection, FieldNode):
                inner = self.selection_set(selection.selection_set)
                aliases += inner.aliases + (1 if selection.alias else 0)
                if not selection.name.value.startswith("__"):
                    depth = max(depth, 1 + inner.depth)
            elif isinstance(selection, InlineFragmentNode):
                inner = self.selection_set(selection.selection_set)
                depth, aliases = max(depth, inner.depth), aliases + inner.aliases
            elif isinstance(selection, FragmentSpreadNode):
                inner = self.fragment(selection.name.value)
                depth, aliases = max(depth, inner.depth), aliases + inner.aliases
        return _Cost(depth, aliases)

    def fragment(self, name: str) -> _Cost:
        if name in self.memo:
            return self.memo[name]
        definition = self.fragments.get(name)
        if definition is None or name in self.in_progress:
            return _Cost()  # unknown or cyclic: the specified rules report it
        self.in_progress.add(name)
        cost = self.selection_set(definition.selection_set)
        self.in_progress.discard(name)
        self.memo[name] = cost
        return cost


def document_limits(
    *, max_depth: int, max_aliases: int, max_operations: int
) -> type[ValidationRule]:
    """A validation rule refusing documents deeper, with more aliases or more operations than
    allowed. Aliases are counted over the whole document, depth per operation."""

    class DocumentLimitsRule(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            document = context.document
            operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
            if len(operations) > max_operations:
                context.report_error(
                    GraphQLError(
                        f"A document may hold at most {max_operations} operations",
                        operations[max_operations],
                    )
                )
                return
            walker = _Walker(document)
            aliases = 0
            for operation in operations:
                cost = walker.selection_set(operation.selection_set)
                aliases += cost.aliases
                if cost.depth > max_depth:
                    context.report_error(
                        GraphQLError(
                            f"The operation is nested deeper than {max_depth} levels", operation
                        )
                    )
            if aliases > max_aliases:
                context.report_error(
                    GraphQLError(f"The document uses more than {max_aliases} aliases")
                )

    return DocumentLimitsRule


def validation_rules(*, introspection: bool) -> tuple[type[ValidationRule], ...]:
    limits = document_limits(
        max_depth=MAX_DEPTH, max_aliases=MAX_ALIASES, max_operations=MAX_OPERATIONS
    )
    # The limits first: a document over them is refused before the costlier rules walk it.
    rules = (limits, *specified_rules, MaybeNullValidationRule, OneOfInputValidationRule)
    return rules if introspection else (*rules, NoSchemaIntrospectionCustomRule)


def validation_extension(
    *, introspection: bool, hide_suggestions: bool, cache_size: int = 512
) -> Callable[[], SchemaExtension]:
    """A schema extension factory that validates with the rules above, suggestions ("did you
    mean …?") hidden when asked, and caches the result per parsed document."""
    rules = validation_rules(introspection=introspection)

    @lru_cache(maxsize=cache_size)
    def cached(schema: GraphQLSchema, document: DocumentNode) -> list[GraphQLError]:
        # Limits before anything else: a refused document is not walked by the other rules.
        errors = validate(schema, document, rules[:1], max_errors=10)
        if errors:
            return errors
        return validate(
            schema, document, rules[1:], max_errors=10, hide_suggestions=hide_suggestions
        )

    class DocumentValidation(SchemaExtension):
        def on_validate(self) -> Iterator[None]:
            ctx: Any = self.execution_context
            ctx.pre_execution_errors = cached(ctx.schema._schema, ctx.graphql_document)
            yield

    return DocumentValidation
