/**
 * Moves entries to the dead-letter stream: for each one, XACK the original and, only if it was
 * still pending and its id is not yet in the DLQ's id set, XADD it to the DLQ. A script runs
 * atomically like MULTI/EXEC, and the conditions make the move idempotent: two instances (or a
 * claim racing a re-read, or a re-read after the group was recreated) dead-lettering the same entry
 * produce one DLQ entry, and a crash can neither lose it nor duplicate it.
 * KEYS: stream, dlq, dlq id set. ARGV: group, then per entry: id, field count, fields...
 */
export const DEAD_LETTER_SCRIPT = `
local moved = 0
local i = 2
while i <= #ARGV do
  local id = ARGV[i]
  local n = tonumber(ARGV[i + 1])
  if redis.call('XACK', KEYS[1], ARGV[1], id) == 1 and redis.call('SADD', KEYS[3], id) == 1 then
    redis.call('XADD', KEYS[2], '*', unpack(ARGV, i + 2, i + 1 + n))
    moved = moved + 1
  end
  i = i + 2 + n
end
return moved
`

/** The set of original entry ids already in the DLQ (what makes dead-lettering idempotent). */
export const dlqIdSetKey = (dlqStream: string) => `${dlqStream}:ids`
