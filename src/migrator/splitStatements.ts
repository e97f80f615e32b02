/**
 * Splits a migration file into single statements. The Postgres driver speaks only the extended
 * protocol, which takes one statement per message. Semicolons inside quotes, quoted identifiers,
 * dollar-quoted bodies and comments do not split.
 */
export const splitStatements = (sql: string): Array<string> => {
  const statements: Array<string> = []
  let start = 0
  let i = 0
  const push = (end: number) => {
    const statement = sql.slice(start, end).trim()
    if (statement !== "" && !/^(?:\s|--[^\n]*(?:\n|$)|\/\*[\s\S]*?\*\/)*$/.test(statement)) statements.push(statement)
  }
  while (i < sql.length) {
    const c = sql[i]
    if (c === "-" && sql[i + 1] === "-") {
      const end = sql.indexOf("\n", i)
      i = end === -1 ? sql.length : end + 1
    } else if (c === "/" && sql[i + 1] === "*") {
      const end = sql.indexOf("*/", i + 2)
      i = end === -1 ? sql.length : end + 2
    } else if (c === "'" || c === '"') {
      let j = i + 1
      while (j < sql.length) {
        if (sql[j] === c) {
          if (sql[j + 1] === c) j += 2
          else break
        } else j++
      }
      i = j + 1
    } else if (c === "$") {
      const tag = /^\$[A-Za-z_][A-Za-z0-9_]*\$|^\$\$/.exec(sql.slice(i))
      if (tag === null) i++
      else {
        const end = sql.indexOf(tag[0], i + tag[0].length)
        i = end === -1 ? sql.length : end + tag[0].length
      }
    } else if (c === ";") {
      push(i)
      i++
      start = i
    } else i++
  }
  push(sql.length)
  return statements
}
