#!lua
-- step_dispatch.lua - the coordinator hands a pending attempt to the workers of its kind
-- (ferry_steps_dispatch): pending at attempt n -> dispatched, with its queued entry.
--
-- KEYS[1]  the step record         ferry:{<migration>}:step:<id>
-- KEYS[2]  the migration history   ferry:{<migration>}:history
-- KEYS[3]  the global event stream ferry:events
-- KEYS[4]  the kind's queue        ferry:queued:<kind>
-- ARGV[1]  migration id            ARGV[2]  step id
-- ARGV[3]  attempt n               ARGV[4]  kind (wire name)
-- ARGV[5]  actor                   ARGV[6]  MAXLEN ~ of KEYS[3]   ARGV[7]  MAXLEN ~ of KEYS[2]
-- ARGV[8]  the command's digest (64 hex; ferry_steps_command_digest)
--
-- Requires state "pending" at attempt n, and the record's kind (when it has one) to be ARGV[4].
-- Sets state "dispatched", kind, command (the digest), dispatched_at and updated_at; ZADD KEYS[4] now
-- "<migration> <step> <n>"; appends the event {migration, entity, from, to, attempt, actor,
-- what, at} to KEYS[2] and KEYS[3].
--
-- Returns {"ok", "dispatched", n, owner, lease_until, now, ""} after the change, or
-- {"conflict", state, attempt, owner, lease_until, now, why} (why: "state", "attempt" or
-- "kind") when the record is not there to dispatch; nothing is written then.
--
-- Checks come before the first write (lib/prologue.lua says why).

local record, history, events, queued = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local migration, step, want_attempt, kind = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local actor, events_max, history_max, digest = ARGV[5], ARGV[6], ARGV[7], ARGV[8]

if #KEYS ~= 4 or #ARGV ~= 8 or migration == '' or step == '' or kind == ''
    or tonumber(want_attempt) == nil or #digest ~= 64 then
    return ferry_refuse('step_dispatch', 'bad arguments')
end
if tonumber(events_max) == nil or tonumber(history_max) == nil then
    return ferry_refuse('step_dispatch', 'bad MAXLEN')
end
local want = {[record] = 'hash', [history] = 'stream', [events] = 'stream', [queued] = 'zset'}
local wrong = ferry_check_types('step_dispatch', want)
if wrong then
    return wrong
end

local cur = redis.call('HMGET', record, 'state', 'attempt', 'owner', 'lease_until', 'kind')
local state, attempt = cur[1] or '', cur[2] or '0'
local owner, lease_until, cur_kind = cur[3] or '', cur[4] or '0', cur[5] or ''

local at = ferry_now_ms()

local why = ''
if state ~= 'pending' then
    why = 'state'
elseif tonumber(attempt) ~= tonumber(want_attempt) then
    why = 'attempt'
elseif cur_kind ~= '' and cur_kind ~= kind then
    why = 'kind'
end
if why ~= '' then
    return {'conflict', state, attempt, owner, lease_until, at, why}
end

redis.call('HSET', record, 'state', 'dispatched', 'kind', kind, 'command', digest,
           'dispatched_at', at, 'updated_at', at)
redis.call('ZADD', queued, at, migration .. ' ' .. step .. ' ' .. attempt)

local event = {'migration', migration, 'entity', 'step:' .. step, 'from', state,
               'to', 'dispatched', 'attempt', attempt, 'actor', actor, 'what', 'dispatched',
               'at', at}
ferry_emit(history, history_max, events, events_max, event)
return {'ok', 'dispatched', attempt, owner, lease_until, at, ''}
