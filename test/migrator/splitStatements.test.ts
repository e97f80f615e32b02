import { describe, expect, it } from "@effect/vitest"
import { splitStatements } from "../../src/migrator/splitStatements.ts"

describe("splitStatements", () => {
  it("splits on semicolons outside quotes, comments and dollar quotes", () => {
    const sql = `
      -- a comment; not a split
      CREATE TABLE a (x text DEFAULT 'a;b');
      /* block; comment */
      CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql;
      COMMENT ON TABLE a IS 'it''s; fine';
      CREATE TABLE "we;ird" (y int)
    `
    expect(splitStatements(sql)).toEqual([
      "-- a comment; not a split\n      CREATE TABLE a (x text DEFAULT 'a;b')",
      "/* block; comment */\n      CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql",
      "COMMENT ON TABLE a IS 'it''s; fine'",
      'CREATE TABLE "we;ird" (y int)',
    ])
  })

  it("drops empty and comment-only pieces", () => {
    expect(splitStatements(";; -- nothing\n;")).toEqual([])
  })
})
