/**
 * A YAML reader for the subset the deployment files use, so the tests can check them without a
 * YAML dependency: `---` documents, block mappings and sequences (a sequence indented under its
 * key), `- key: value` items, plain/"double"/'single' scalars, `[a, "b"]` flow sequences of
 * scalars, `# comments`, anchors (`&name`), aliases (`*name`) and merge keys (`<<: *name`).
 *
 * Scalars stay strings (`"8080"` and `8080` both read as "8080"; an empty value is null): the
 * checks compare text. Anything outside the subset (block scalars `|`/`>`, flow mappings, tabs,
 * a sequence at its key's own indent, odd indentation) throws, so a file that drifts out of the
 * subset fails the test instead of being misread.
 */

export type Yaml = string | null | ReadonlyArray<Yaml> | { readonly [key: string]: Yaml }

interface Line {
  readonly indent: number
  readonly text: string
  readonly number: number
}

const fail = (line: Line | undefined, reason: string): never => {
  throw new Error(line === undefined ? `yaml: ${reason}` : `yaml line ${line.number}: ${reason}: ${line.text}`)
}

/** Drops a `#` comment that starts the line or follows whitespace, outside quotes. */
const stripComment = (raw: string): string => {
  let quote: string | undefined
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]
    if (quote !== undefined) {
      if (c === "\\" && quote === '"') i++
      else if (c === quote) quote = undefined
    } else if (c === '"' || c === "'") {
      quote = c
    } else if (c === "#" && (i === 0 || raw[i - 1] === " ")) {
      return raw.slice(0, i)
    }
  }
  return raw
}

const scalar = (text: string, line: Line): string | null => {
  const t = text.trim()
  if (t === "" || t === "~" || t === "null") return null
  if (t.startsWith('"')) {
    if (!t.endsWith('"') || t.length < 2) fail(line, "unterminated double-quoted scalar")
    return t.slice(1, -1).replace(/\\(["\\])/g, "$1")
  }
  if (t.startsWith("'")) {
    if (!t.endsWith("'") || t.length < 2) fail(line, "unterminated single-quoted scalar")
    return t.slice(1, -1).replace(/''/g, "'")
  }
  if (/^[|>]/.test(t)) fail(line, "block scalars are outside the supported subset")
  if (t.startsWith("{")) fail(line, "flow mappings are outside the supported subset")
  return t
}

/** `[a, "b, c", 'd']`: a flow sequence of scalars. */
const flowSequence = (text: string, line: Line): Array<string | null> => {
  const inner = text.trim().slice(1, -1)
  const items: Array<string | null> = []
  let current = ""
  let quote: string | undefined
  for (let i = 0; i < inner.length; i++) {
    const c = inner[i] as string
    if (quote !== undefined) {
      current += c
      if (c === "\\" && quote === '"') current += inner[++i] ?? ""
      else if (c === quote) quote = undefined
    } else if (c === '"' || c === "'") {
      quote = c
      current += c
    } else if (c === ",") {
      items.push(scalar(current, line))
      current = ""
    } else if (c === "[" || c === "{") {
      fail(line, "nested flow collections are outside the supported subset")
    } else current += c
  }
  if (quote !== undefined) fail(line, "unterminated quote in flow sequence")
  if (current.trim() !== "" || items.length > 0) items.push(scalar(current, line))
  return items
}

const KEY = /^([A-Za-z0-9_.\-/<]+|"[^"]*"|'[^']*'):(?:\s+(.*))?$/

const clone = (value: Yaml): Yaml => (value === null ? null : JSON.parse(JSON.stringify(value)))

class Parser {
  private index = 0
  private readonly anchors = new Map<string, Yaml>()
  private readonly lines: Array<Line>
  constructor(lines: Array<Line>) {
    this.lines = lines
  }

  parseDocument(): Yaml {
    if (this.lines.length === 0) return null
    const first = this.lines[0] as Line
    const value = this.block(first.indent)
    if (this.index < this.lines.length) fail(this.lines[this.index], "unexpected indentation")
    return value
  }

  private peek(): Line | undefined {
    return this.lines[this.index]
  }

  private isItem(line: Line) {
    return line.text === "-" || line.text.startsWith("- ")
  }

  private block(indent: number): Yaml {
    const line = this.peek()
    if (line === undefined) return null
    return this.isItem(line) ? this.sequence(indent) : this.mapping(indent)
  }

  /** The value after `key:` or `- `: inline text, or the block indented below. */
  private value(rest: string, line: Line, parentIndent: number): Yaml {
    let text = rest.trim()
    let anchor: string | undefined
    const anchored = /^&([A-Za-z0-9_-]+)\s*(.*)$/.exec(text)
    if (anchored !== null) {
      anchor = anchored[1]
      text = anchored[2] ?? ""
    }
    let result: Yaml
    if (text === "") {
      const next = this.peek()
      if (next !== undefined && next.indent > parentIndent) result = this.block(next.indent)
      else if (next !== undefined && next.indent === parentIndent && this.isItem(next) && !this.isItem(line)) {
        result = fail(next, "a sequence at its key's own indent is outside the supported subset")
      } else result = null
    } else if (text.startsWith("*")) {
      const name = text.slice(1)
      const target = this.anchors.get(name)
      if (target === undefined) fail(line, `unknown alias *${name}`)
      result = clone(target ?? null)
    } else if (text.startsWith("[")) {
      if (!text.endsWith("]")) fail(line, "unterminated flow sequence")
      result = flowSequence(text, line)
    } else {
      result = scalar(text, line)
    }
    if (anchor !== undefined) this.anchors.set(anchor, result)
    return result
  }

  private mapping(indent: number): Yaml {
    const out: Record<string, Yaml> = {}
    const merged: Array<Record<string, Yaml>> = []
    for (let line = this.peek(); line !== undefined && line.indent >= indent; line = this.peek()) {
      if (line.indent > indent) fail(line, "unexpected indentation")
      if (this.isItem(line)) fail(line, "sequence item where a mapping key was expected")
      const match = KEY.exec(line.text)
      if (match === null) fail(line, "expected `key: value`")
      const key = scalar(match?.[1] ?? "", line) ?? ""
      this.index++
      const value = this.value(match?.[2] ?? "", line, indent)
      if (key === "<<") {
        if (value === null || typeof value !== "object" || Array.isArray(value))
          fail(line, "merge key needs a mapping alias")
        merged.push(value as Record<string, Yaml>)
        continue
      }
      if (Object.hasOwn(out, key)) fail(line, `duplicate key ${key}`)
      out[key] = value
    }
    // Merge semantics: keys written in the mapping win over merged ones, whatever the order.
    return Object.assign({}, ...merged, out)
  }

  private sequence(indent: number): Yaml {
    const out: Array<Yaml> = []
    for (let line = this.peek(); line !== undefined && line.indent >= indent; line = this.peek()) {
      if (line.indent > indent) fail(line, "unexpected indentation")
      if (!this.isItem(line)) break
      const rest = line.text === "-" ? "" : line.text.slice(2)
      const inner = rest.trimStart()
      const innerIndent = indent + 2 + (rest.length - inner.length)
      if (KEY.test(inner) && !inner.startsWith('"') && !inner.startsWith("'")) {
        // `- key: value` starts a mapping whose keys line up with `key`.
        this.lines[this.index] = { indent: innerIndent, text: inner, number: line.number }
        out.push(this.mapping(innerIndent))
      } else {
        this.index++
        out.push(this.value(inner, line, indent))
      }
    }
    return out
  }
}

/** Every document of a multi-document YAML text. */
export const parseYamlDocuments = (source: string): Array<Yaml> => {
  const documents: Array<Array<Line>> = [[]]
  source.split("\n").forEach((raw, i) => {
    if (raw.includes("\t")) fail({ indent: 0, text: raw, number: i + 1 }, "tabs are outside the supported subset")
    if (/^---\s*$/.test(raw)) {
      documents.push([])
      return
    }
    const text = stripComment(raw).trimEnd()
    if (text.trim() === "") return
    const indent = text.length - text.trimStart().length
    documents.at(-1)?.push({ indent, text: text.trimStart(), number: i + 1 })
  })
  return documents.filter((lines) => lines.length > 0).map((lines) => new Parser(lines).parseDocument())
}

export const parseYaml = (source: string): Yaml => {
  const documents = parseYamlDocuments(source)
  if (documents.length !== 1) throw new Error(`yaml: expected one document, found ${documents.length}`)
  return documents[0] ?? null
}
