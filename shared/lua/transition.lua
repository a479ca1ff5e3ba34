#!lua
-- transition.lua - one atomic state change of a record, with its event (ferry_store_transition).
--
-- KEYS[1]  the record hash        ferry:{<migration>}:<entity>
-- KEYS[2]  the migration history  ferry:{<migration>}:history
-- KEYS[3]  the global event stream ferry:events
-- ARGV[1]  migration id            ARGV[2]  entity
-- ARGV[3]  expected attempt, "" for any
-- ARGV[4]  new state               ARGV[5]  new attempt, "" to keep the current one
-- ARGV[6]  actor                   ARGV[7]  event type (what)
-- ARGV[8]  MAXLEN ~ of KEYS[3]     ARGV[9]  MAXLEN ~ of KEYS[2]
-- ARGV[10] n, the number of allowed current states, then those n states ("" = absent),
--          then field, value pairs to set on the record.
--
-- Returns {"ok", event id, history id, at, attempt} after the change, or
-- {"conflict", current state, current attempt} when the record is not in an allowed state or
-- not at the expected attempt; nothing is written then.
--
-- Every check that can fail comes before the first write: Redis does not undo a script's
-- writes when a later command fails, so a change is refused whole or applied whole. The
-- "#!lua" line (Redis 7) makes Redis refuse the whole script up front when it is out of
-- memory, rather than at its first write.

local record, history, events = KEYS[1], KEYS[2], KEYS[3]
local migration, entity = ARGV[1], ARGV[2]
local expect_attempt, to, new_attempt = ARGV[3], ARGV[4], ARGV[5]
local actor, what = ARGV[6], ARGV[7]
local events_max, history_max = ARGV[8], ARGV[9]
local n_from = tonumber(ARGV[10])

if #KEYS ~= 3 or n_from == nil or n_from < 1 or #ARGV < 10 + n_from
    or (#ARGV - 10 - n_from) % 2 ~= 0 or to == '' then
    return redis.error_reply('ERR ferry transition: bad arguments')
end
if tonumber(events_max) == nil or tonumber(history_max) == nil then
    return redis.error_reply('ERR ferry transition: bad MAXLEN')
end
local want_type = {[record] = 'hash', [history] = 'stream', [events] = 'stream'}
for key, kind in pairs(want_type) do
    local t = redis.call('TYPE', key).ok
    if t ~= 'none' and t ~= kind then
        return redis.error_reply('WRONGTYPE ferry transition: ' .. key .. ' is a ' .. t)
    end
end

local cur = redis.call('HMGET', record, 'state', 'attempt')
local state = cur[1] or ''
local attempt = cur[2] or '0'

local allowed = false
for i = 11, 10 + n_from do
    if ARGV[i] == state then
        allowed = true
        break
    end
end
if not allowed or (expect_attempt ~= '' and tonumber(expect_attempt) ~= tonumber(attempt)) then
    return {'conflict', state, attempt}
end

-- Server time, so that every writer stamps with one clock. Redis 7 replicates a script by its
-- effects (the HSET and XADD below, with these values), so a non-deterministic read is safe.
local now = redis.call('TIME')
local at = now[1] .. string.format('%03d', math.floor(tonumber(now[2]) / 1000))
local attempt_after = attempt
if new_attempt ~= '' then
    attempt_after = new_attempt
end

local set = {'state', to, 'attempt', attempt_after, 'updated_at', at}
for i = 11 + n_from, #ARGV, 2 do
    set[#set + 1] = ARGV[i]
    set[#set + 1] = ARGV[i + 1]
end
redis.call('HSET', record, unpack(set))

local event = {'migration', migration, 'entity', entity, 'from', state, 'to', to,
               'attempt', attempt_after, 'actor', actor, 'what', what, 'at', at}
local history_id = redis.call('XADD', history, 'MAXLEN', '~', history_max, '*', unpack(event))
local event_id = redis.call('XADD', events, 'MAXLEN', '~', events_max, '*', unpack(event))
return {'ok', event_id, history_id, at, attempt_after}
