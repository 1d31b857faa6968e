"""Adopting a legacy single-tenant database: `tenantgraph adopt` (see the README, Operations).

- `legacy`: the legacy shape and generators of legacy databases;
- `backfill`: steps 2–3, every row gets a tenant through its relationships, in resumable batches;
- `swap`: step 4, the current schema built by the main revisions and filled, counts checked;
- `runner`: the command's driver (alembic chain in migrations/adopt, dry run, rollback);
- `report`: what was done, printed.
"""
