#!lua
-- step_expire.lua - the coordinator ends a running attempt whose lease passed
-- (ferry_steps_expire): running at attempt n with lease_until < now -> expired.
--
-- KEYS[1]  the step record         ferry:{<migration>}:step:<id>
-- KEYS[2]  the migration history   ferry:{<migration>}:history
-- KEYS[3]  the global event stream ferry:events
-- KEYS[4]  the leases              ferry:leases
-- ARGV[1]  migration id            ARGV[2]  step id
-- ARGV[3]  attempt n               ARGV[4]  actor
-- ARGV[5]  error_code              ARGV[6]  error_name (of FERRY_ERR_LEASE_LOST)
-- ARGV[7]  MAXLEN ~ of KEYS[3]     ARGV[8]  MAXLEN ~ of KEYS[2]
--
-- Requires state "running" at attempt n and lease_until < now. Sets state "expired",
-- finished_at, updated_at, and the error: error_code, error_name, error_message "worker
-- <owner> lost its lease", error_retryable "1"; ZREM KEYS[4] "<migration> <step> <n>";
-- appends the event {migration, entity, from, to, attempt, actor, what, at} to KEYS[2] and
-- KEYS[3].
--
-- Returns {"ok", "expired", n, owner, lease_until, now, ""} after the change,
-- {"conflict", state, attempt, owner, lease_until, now, why} (why: "state" or "attempt") when
-- the attempt is not running, or {"notyet", ..., "lease"} when its lease has not passed;
-- nothing is written then.
--
-- Checks come before the first write (lib/prologue.lua says why).

local record, history, events, leases = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local migration, step, want_attempt, actor = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local error_code, error_name = ARGV[5], ARGV[6]
local events_max, history_max = ARGV[7], ARGV[8]

if #KEYS ~= 4 or #ARGV ~= 8 or migration == '' or step == '' or actor == ''
    or tonumber(want_attempt) == nil or tonumber(error_code) == nil or error_name == '' then
    return ferry_refuse('step_expire', 'bad arguments')
end
if tonumber(events_max) == nil or tonumber(history_max) == nil then
    return ferry_refuse('step_expire', 'bad MAXLEN')
end
local want = {[record] = 'hash', [history] = 'stream', [events] = 'stream', [leases] = 'zset'}
local wrong = ferry_check_types('step_expire', want)
if wrong then
    return wrong
end

local cur = redis.call('HMGET', record, 'state', 'attempt', 'owner', 'lease_until')
local state, attempt = cur[1] or '', cur[2] or '0'
local owner, lease_until = cur[3] or '', cur[4] or '0'

local at = ferry_now_ms()

local why = ''
if state ~= 'running' then
    why = 'state'
elseif tonumber(attempt) ~= tonumber(want_attempt) then
    why = 'attempt'
end
if why ~= '' then
    return {'conflict', state, attempt, owner, lease_until, at, why}
end
if (tonumber(lease_until) or 0) >= tonumber(at) then
    return {'notyet', state, attempt, owner, lease_until, at, 'lease'}
end

redis.call('HSET', record, 'state', 'expired', 'finished_at', at, 'updated_at', at,
           'error_code', error_code, 'error_name', error_name,
           'error_message', 'worker ' .. owner .. ' lost its lease', 'error_retryable', '1')
redis.call('ZREM', leases, migration .. ' ' .. step .. ' ' .. attempt)

local event = {'migration', migration, 'entity', 'step:' .. step, 'from', state,
               'to', 'expired', 'attempt', attempt, 'actor', actor, 'what', 'expired',
               'at', at}
ferry_emit(history, history_max, events, events_max, event)
return {'ok', 'expired', attempt, owner, lease_until, at, ''}
