#!lua
-- step_cancel.lua - the coordinator withdraws a step the migration no longer wants
-- (ferry_steps_cancel): pending, dispatched or running -> canceled.
--
-- KEYS[1]  the step record         ferry:{<migration>}:step:<id>
-- KEYS[2]  the migration history   ferry:{<migration>}:history
-- KEYS[3]  the global event stream ferry:events
-- KEYS[4]  the leases              ferry:leases
-- KEYS[5]  the kind's queue        ferry:queued:<kind>; absent when the record has no kind
-- ARGV[1]  migration id            ARGV[2]  step id
-- ARGV[3]  actor                   ARGV[4]  reason (stored as error_message)
-- ARGV[5]  the kind KEYS[5] belongs to ("" without KEYS[5])
-- ARGV[6]  error_code              ARGV[7]  error_name (of FERRY_ERR_CANCELLED)
-- ARGV[8]  MAXLEN ~ of KEYS[3]     ARGV[9]  MAXLEN ~ of KEYS[2]
--
-- Requires a state that is not final (pending, dispatched or running), and, when dispatched,
-- the record's kind to be ARGV[5] (the caller read it to name KEYS[5]). Sets state "canceled",
-- finished_at, updated_at, error_code, error_name, error_message = reason and error_retryable
-- "0"; ZREM "<migration> <step> <attempt>" from KEYS[5] and KEYS[4]; appends the event
-- {migration, entity, from, to, attempt, actor, what, at} to KEYS[2] and KEYS[3]. A running
-- attempt's worker sees its next renewal refused and stops.
--
-- Returns {"ok", "canceled", attempt, owner, lease_until, now, ""} after the change, or
-- {"conflict", state, attempt, owner, lease_until, now, why} (why: "state", or "kind" when the
-- caller named the wrong queue and should read the kind again); nothing is written then.
--
-- Every check that can fail comes before the first write: Redis does not undo a script's
-- writes when a later command fails, so a change is refused whole or applied whole. The
-- "#!lua" line (Redis 7) makes Redis refuse the whole script up front when it is out of
-- memory, rather than at its first write.

local record, history, events, leases, queued = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local migration, step, actor, reason, kind = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local error_code, error_name = ARGV[6], ARGV[7]
local events_max, history_max = ARGV[8], ARGV[9]

if (#KEYS ~= 4 and #KEYS ~= 5) or #ARGV ~= 9 or migration == '' or step == '' or actor == ''
    or (#KEYS == 5) ~= (kind ~= '') or tonumber(error_code) == nil or error_name == '' then
    return redis.error_reply('ERR ferry step_cancel: bad arguments')
end
if tonumber(events_max) == nil or tonumber(history_max) == nil then
    return redis.error_reply('ERR ferry step_cancel: bad MAXLEN')
end
local want_type = {[record] = 'hash', [history] = 'stream', [events] = 'stream',
                   [leases] = 'zset'}
if queued ~= nil then
    want_type[queued] = 'zset'
end
for key, want in pairs(want_type) do
    local t = redis.call('TYPE', key).ok
    if t ~= 'none' and t ~= want then
        return redis.error_reply('WRONGTYPE ferry step_cancel: ' .. key .. ' is a ' .. t)
    end
end

local cur = redis.call('HMGET', record, 'state', 'attempt', 'owner', 'lease_until', 'kind')
local state, attempt = cur[1] or '', cur[2] or '0'
local owner, lease_until, cur_kind = cur[3] or '', cur[4] or '0', cur[5] or ''

-- Server time, so that every writer stamps with one clock. Redis 7 replicates a script by its
-- effects, so a non-deterministic read is safe.
local t = redis.call('TIME')
local at = t[1] .. string.format('%03d', math.floor(tonumber(t[2]) / 1000))

local open = {pending = true, dispatched = true, running = true}
local why = ''
if not open[state] then
    why = 'state'
elseif state == 'dispatched' and cur_kind ~= kind then
    why = 'kind'
end
if why ~= '' then
    return {'conflict', state, attempt, owner, lease_until, at, why}
end

redis.call('HSET', record, 'state', 'canceled', 'finished_at', at, 'updated_at', at,
           'error_code', error_code, 'error_name', error_name, 'error_message', reason,
           'error_retryable', '0')
local member = migration .. ' ' .. step .. ' ' .. attempt
if queued ~= nil then
    redis.call('ZREM', queued, member)
end
redis.call('ZREM', leases, member)

local event = {'migration', migration, 'entity', 'step:' .. step, 'from', state,
               'to', 'canceled', 'attempt', attempt, 'actor', actor, 'what', 'canceled',
               'at', at}
redis.call('XADD', history, 'MAXLEN', '~', history_max, '*', unpack(event))
redis.call('XADD', events, 'MAXLEN', '~', events_max, '*', unpack(event))
return {'ok', 'canceled', attempt, owner, lease_until, at, ''}
