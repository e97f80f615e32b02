/**
 * Atomically: has the stream lost entries the group has not been given yet? That is the case when
 * the highest id ever deleted (trimmed or XDEL) lies above the group's last-delivered id. If so,
 * move the group to that id, so the gap is reported once (by one instance) and reading goes on
 * from the oldest retained entry. Returns false, or {from (exclusive), to (inclusive), lost count
 * or -1 when Redis cannot tell}.
 */
export const GAP_SCRIPT = `
local function field(reply, name)
  for i = 1, #reply, 2 do if reply[i] == name then return reply[i + 1] end end
  return nil
end
local function parse(id)
  local dash = string.find(id, '-', 1, true)
  if dash == nil then return tonumber(id), 0 end
  return tonumber(string.sub(id, 1, dash - 1)), tonumber(string.sub(id, dash + 1))
end
local function greater(a, b)
  local am, as = parse(a)
  local bm, bs = parse(b)
  if am ~= bm then return am > bm end
  return as > bs
end
local ok, stream = pcall(redis.call, 'XINFO', 'STREAM', KEYS[1])
if not ok then return false end
local maxDeleted = field(stream, 'max-deleted-entry-id')
if maxDeleted == nil or maxDeleted == '0-0' then return false end
local groups = redis.call('XINFO', 'GROUPS', KEYS[1])
for _, group in ipairs(groups) do
  if field(group, 'name') == ARGV[1] then
    local lastDelivered = field(group, 'last-delivered-id')
    if not greater(maxDeleted, lastDelivered) then return false end
    local lost = -1
    local entriesRead = field(group, 'entries-read')
    local entriesAdded = field(stream, 'entries-added')
    if type(entriesRead) == 'number' and type(entriesAdded) == 'number' then
      lost = entriesAdded - entriesRead - field(stream, 'length')
    end
    redis.call('XGROUP', 'SETID', KEYS[1], ARGV[1], maxDeleted)
    return {lastDelivered, maxDeleted, lost}
  end
end
return false
`
