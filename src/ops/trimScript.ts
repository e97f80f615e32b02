import { STREAM_LUA_HELPERS } from "../redis/streamIdLua.ts"

/**
 * Atomically: trim the main stream below the consumer group's processing frontier, i.e. remove only
 * entries every one of which was acknowledged (written or dead-lettered). The frontier is the
 * oldest pending entry when there is one (`XTRIM MINID` keeps it and everything after), otherwise
 * the last entry delivered to the group (everything after it is undelivered and kept). One script,
 * so no entry can be delivered or acknowledged between reading the frontier and trimming.
 *
 * ARGV[2], when not empty, is a floor id (`<now - keep>-0`): processed entries newer than it are
 * kept too, as a replay buffer (e.g. after a PostgreSQL failover that lost acknowledged rows).
 * Returns {removed, minid}, or false when the group does not exist (nothing is known to be done).
 */
export const TRIM_PROCESSED_SCRIPT = `${STREAM_LUA_HELPERS}
local ok, groups = pcall(redis.call, 'XINFO', 'GROUPS', KEYS[1])
if not ok then return false end
local lastDelivered = nil
for _, group in ipairs(groups) do
  if field(group, 'name') == ARGV[1] then lastDelivered = field(group, 'last-delivered-id') end
end
if lastDelivered == nil then return false end
local pending = redis.call('XPENDING', KEYS[1], ARGV[1])
local minid = lastDelivered
if pending[1] > 0 then minid = pending[2] end
if ARGV[2] ~= '' and greater(minid, ARGV[2]) then minid = ARGV[2] end
local removed = redis.call('XTRIM', KEYS[1], 'MINID', minid)
return {removed, minid}
`
