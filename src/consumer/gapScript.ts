import * as Crypto from "node:crypto"
import { STREAM_LUA_HELPERS } from "../redis/streamIdLua.ts"

/**
 * Atomically: has the stream lost entries the group has not been given yet? Two ways to tell:
 * - counted: Redis keeps `entries-added` (stream) and `entries-read` (group); when the first
 *   retained entry lies after the group's last-delivered id, every retained entry is still unread,
 *   so `entries-added - entries-read - length` entries were trimmed unread (XTRIM/MAXLEN do not
 *   move `max-deleted-entry-id` on every Redis version, the counters always work);
 * - by id: the highest id ever deleted (`max-deleted-entry-id`) lies above the last-delivered id.
 * On a gap, the group is moved to just before the first retained entry (keeping `entries-read`
 * exact), so the gap is reported once, by one instance, and reading goes on from there.
 * Returns false, or {from (exclusive), to (inclusive), lost count or -1 when Redis cannot tell}.
 */
export const GAP_SCRIPT = `${STREAM_LUA_HELPERS}
local function previous(id)
  local ms, seq = parse(id)
  if seq > 0 then return string.format('%.0f-%.0f', ms, seq - 1) end
  return string.format('%.0f', ms - 1) .. '-18446744073709551615'
end
local ok, stream = pcall(redis.call, 'XINFO', 'STREAM', KEYS[1])
if not ok then return false end
local groups = redis.call('XINFO', 'GROUPS', KEYS[1])
for _, group in ipairs(groups) do
  if field(group, 'name') == ARGV[1] then
    local lastDelivered = field(group, 'last-delivered-id')
    local entriesRead = field(group, 'entries-read')
    local added = field(stream, 'entries-added')
    local length = field(stream, 'length')
    local first = field(stream, 'recorded-first-entry-id')
    if type(entriesRead) == 'number' and type(added) == 'number' and first ~= nil and length > 0
      and greater(first, lastDelivered) then
      local lost = added - entriesRead - length
      if lost > 0 then
        local to = previous(first)
        redis.call('XGROUP', 'SETID', KEYS[1], ARGV[1], to, 'ENTRIESREAD', added - length)
        return {lastDelivered, to, lost}
      end
    end
    local maxDeleted = field(stream, 'max-deleted-entry-id')
    if maxDeleted ~= nil and maxDeleted ~= '0-0' and greater(maxDeleted, lastDelivered) then
      redis.call('XGROUP', 'SETID', KEYS[1], ARGV[1], maxDeleted)
      return {lastDelivered, maxDeleted, -1}
    end
    return false
  end
end
return false
`

/** EVALSHA needs only this digest on the wire, not the script. */
export const GAP_SCRIPT_SHA = Crypto.createHash("sha1").update(GAP_SCRIPT).digest("hex")
