import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Url from "node:url"
import { describe, expect, it } from "@effect/vitest"
import { PlainVerbatimString, verbatimStringPath } from "../../src/redis/plainVerbatimString.ts"

const root = Path.resolve(import.meta.dirname, "../..")

/**
 * Whether String.prototype still has fast properties after a fresh node process imports `modules`
 * in order. V8 turns it into a dictionary once any object inherits from it (ioredis's
 * `class VerbatimString extends String`), and every string method call slows down. Asked through
 * V8's own `%HasFastProperties`, so the answer is exact, not a timing.
 */
const stringPrototypeStaysFast = (modules: ReadonlyArray<string>): boolean => {
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "telemetry-fastprops-"))
  try {
    const script = Path.join(dir, "check.cjs")
    // Bare specifiers are resolved here: the script lives outside the project's node_modules reach.
    const urls = modules.map((m) => (Path.isAbsolute(m) ? Url.pathToFileURL(m).href : import.meta.resolve(m)))
    const imports = urls.map((url) => `await import(${JSON.stringify(url)})`).join("; ")
    Fs.writeFileSync(script, `(async () => { ${imports}; console.log(%HasFastProperties(String.prototype)) })()`)
    const out = ChildProcess.execFileSync(process.execPath, ["--allow-natives-syntax", script], {
      cwd: root,
      encoding: "utf8",
    })
    return JSON.parse(out.trim()) as boolean
  } finally {
    Fs.rmSync(dir, { recursive: true, force: true })
  }
}

const src = (file: string) => Path.join(root, "src", file)

describe("ioredis and String.prototype", () => {
  it("loading ioredis on its own slows string methods for the whole process (the hazard)", () => {
    expect(stringPrototypeStaysFast([])).toBe(true)
    expect(stringPrototypeStaysFast(["ioredis"])).toBe(false)
  })

  it("through RedisClient, ioredis loads with the plain VerbatimString and string methods stay fast", () => {
    expect(stringPrototypeStaysFast([src("redis/RedisClient.ts"), "ioredis"])).toBe(true)
  })

  it("every module the entry point loads keeps string methods fast", () => {
    const entryImports = [...Fs.readFileSync(src("main.ts"), "utf8").matchAll(/^import .* from "(.+)"$/gm)]
      .map((m) => m[1] as string)
      .map((specifier) => (specifier.startsWith(".") ? src(specifier) : specifier))
    expect(entryImports.length).toBeGreaterThan(5)
    expect(stringPrototypeStaysFast(entryImports)).toBe(true)
  })

  it("the class in ioredis's place has the shape ioredis declares", async () => {
    await import("../../src/redis/RedisClient.ts")
    const { createRequire } = await import("node:module")
    const cached = createRequire(import.meta.url).cache[verbatimStringPath]
    expect(cached?.exports).toEqual({ VerbatimString: PlainVerbatimString })
    const value = new PlainVerbatimString("txt", "hello")
    expect([value.format, String(value), `${value}`]).toEqual(["txt", "hello", "hello"])
  })
})
