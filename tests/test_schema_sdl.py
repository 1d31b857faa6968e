from pathlib import Path

from schema import export_sdl

SDL = Path(__file__).resolve().parent.parent / "schema.graphql"


def test_committed_schema_matches_the_code() -> None:
    assert SDL.read_text() == export_sdl(), "schema.graphql is stale: run `make schema`"


def test_contract_names_are_present() -> None:
    sdl = export_sdl()
    for line in (
        "login(email: String!, password: String!, tenant: String = null): AuthPayload!",
        "switchTenant(tenantId: ID!): AuthPayload!",
        "logout: Boolean!",
        "revokeAllSessions: Boolean!",
        "createTask(input: CreateTaskInput!): Task!",
        "updateTask(id: ID!, input: UpdateTaskInput!): Task!",
        "deleteTask(id: ID!): Boolean!",
        "viewer: Viewer",
        "tasks(first: Int = 20, after: String = null, filter: TaskFilter = null): TaskConnection!",
        "task(id: ID!): Task",
    ):
        assert line in sdl, line
