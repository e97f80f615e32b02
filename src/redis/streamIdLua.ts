/**
 * Lua helpers shared by the server-side scripts: stream ids compared as (ms, seq) numbers, not as
 * strings ("9-0" < "10-0"), and a field of a flat XINFO reply. Prepended to each script's body.
 */
export const STREAM_LUA_HELPERS = `
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
`
