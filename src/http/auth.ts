import { createHash, timingSafeEqual } from "node:crypto"
import { Redacted } from "effect"

const digest = (value: string): Buffer => createHash("sha256").update(value, "utf8").digest()

const BEARER = /^Bearer[ \t]+(\S+)[ \t]*$/i

/**
 * A checker for `Authorization: Bearer <key>`. Both sides are hashed first, so the comparison is
 * over two equal-length digests and `timingSafeEqual` leaks neither the key's bytes nor its length.
 */
export const bearerChecker = (apiKey: Redacted.Redacted<string>) => {
  const expected = digest(Redacted.value(apiKey))
  return (header: string | undefined): boolean => {
    if (header === undefined) return false
    const token = BEARER.exec(header)?.[1]
    return token !== undefined && timingSafeEqual(digest(token), expected)
  }
}
