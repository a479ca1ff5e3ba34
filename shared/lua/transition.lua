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
-- Checks come before the first write (lib/prologue.lua says why).

local record, history, events = KEYS[1], KEYS[2], KEYS[3]
local migration, entity = ARGV[1], ARGV[2]
local expect_attempt, to, new_attempt = ARGV[3], ARGV[4], ARGV[5]
local actor, what = ARGV[6], ARGV[7]
local events_max, history_max = ARGV[8], ARGV[9]
local n_from = tonumber(ARGV[10])

if #KEYS ~= 3 or n_from == nil or n_from < 1 or #ARGV < 10 + n_from
    or (#ARGV - 10 - n_from) % 2 ~= 0 or to == '' then
    return ferry_refuse('transition', 'bad arguments')
end
if tonumber(events_max) == nil or tonumber(history_max) == nil then
    return ferry_refuse('transition', 'bad MAXLEN')
end
local want = {[record] = 'hash', [history] = 'stream', [events] = 'stream'}
local wrong = ferry_check_types('transition', want)
if wrong then
    return wrong
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

local at = ferry_now_ms()
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
local history_id, event_id = ferry_emit(history, history_max, events, events_max, event)
return {'ok', event_id, history_id, at, attempt_after}
