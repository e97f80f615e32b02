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
export const TRIM_PROCESSED_SCRIPT = `
local ok, groups = pcall(redis.call, 'XINFO', 'GROUPS', KEYS[1])
if not ok then return false end
local lastDelivered = nil
for _, group in ipairs(groups) do
  for i = 1, #group, 2 do
    if group[i] == 'name' and group[i + 1] == ARGV[1] then
      for j = 1, #group, 2 do
        if group[j] == 'last-delivered-id' then lastDelivered = group[j + 1] end
      end
    end
  end
end
if lastDelivered == nil then return false end
local pending = redis.call('XPENDING', KEYS[1], ARGV[1])
local function parse(id)
  local dash = string.find(id, '-', 1, true)
  if dash == nil then return tonumber(id), 0 end
  return tonumber(string.sub(id, 1, dash - 1)), tonumber(string.sub(id, dash + 1))
end
local function less(a, b)
  local am, as = parse(a)
  local bm, bs = parse(b)
  if am ~= bm then return am < bm end
  return as < bs
end
local minid = lastDelivered
if pending[1] > 0 then minid = pending[2] end
if ARGV[2] ~= '' and less(ARGV[2], minid) then minid = ARGV[2] end
local removed = redis.call('XTRIM', KEYS[1], 'MINID', minid)
return {removed, minid}
`
