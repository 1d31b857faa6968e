// Baseline (c) of `make bench`: PostGraphile over the benchmark database as the runtime role,
// with the tenant settings that the row-level security policies read taken from the API's own
// JWT (HS256, the derived signing key is passed in BENCH_JWT_KEY_B64 by the benchmark).
"use strict";
const http = require("http");
const { Pool } = require("pg");
const jwt = require("jsonwebtoken");
const { postgraphile } = require("postgraphile");

const key = Buffer.from(process.env.BENCH_JWT_KEY_B64, "base64");
const pool = new Pool({
  host: process.env.BENCH_PG_HOST,
  port: Number(process.env.BENCH_PG_PORT || 5432),
  user: process.env.BENCH_PG_USER,
  password: process.env.BENCH_PG_PASSWORD || undefined,
  database: process.env.BENCH_PG_DATABASE,
  max: Number(process.env.BENCH_POOL_SIZE || 10),
});

function claims(req) {
  const header = req.headers.authorization || "";
  const token = header.replace(/^Bearer\s+/i, "");
  return jwt.verify(token, key, {
    algorithms: ["HS256"],
    issuer: process.env.BENCH_JWT_ISSUER,
    audience: process.env.BENCH_JWT_AUDIENCE,
  });
}

const middleware = postgraphile(pool, "public", {
  dynamicJson: true,
  disableQueryLog: true,
  retryOnInitFail: false,
  graphiql: false,
  enableQueryBatching: false,
  ignoreRBAC: false,
  setofFunctionsContainNulls: false,
  pgSettings: async (req) => {
    let c;
    try {
      c = claims(req);
    } catch (e) {
      // no tenant: the policies match no row
      return { "app.current_tenant_id": "", "app.current_user_id": "" };
    }
    return {
      "app.current_tenant_id": c.tid,
      "app.current_user_id": c.sub,
      "app.is_superadmin": "false",
      "app.public_tenant_id": "",
      statement_timeout: "30s",
    };
  },
});

http.createServer(middleware).listen(Number(process.env.BENCH_PORT), "127.0.0.1");
