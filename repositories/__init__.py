"""Tenant-scoped data access: the only code that builds SQL.

Every repository is constructed with the session of the unit of work and the verified
`TenantContext`; no method takes a tenant id from its caller.
"""
