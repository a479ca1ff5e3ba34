#!lua
-- step_claim.lua - a worker takes a dispatched attempt (ferry_steps_claim): dispatched at
-- attempt n -> running, owned by the worker until now + lease.
--
-- KEYS[1]  the step record         ferry:{<migration>}:step:<id>
-- KEYS[2]  the migration history   ferry:{<migration>}:history
-- KEYS[3]  the global event stream ferry:events
-- KEYS[4]  the kind's queue        ferry:queued:<kind>
-- KEYS[5]  the leases              ferry:leases
-- ARGV[1]  migration id            ARGV[2]  step id
-- ARGV[3]  attempt n               ARGV[4]  kind (wire name)
-- ARGV[5]  worker id (the owner)   ARGV[6]  lease in ms (> 0)
-- ARGV[7]  MAXLEN ~ of KEYS[3]     ARGV[8]  MAXLEN ~ of KEYS[2]
-- ARGV[9]  the digest of the command the worker received (ferry_steps_command_digest)
--
-- Requires state "dispatched" at attempt n, of kind ARGV[4], whose recorded command digest is
-- ARGV[9] (else the command is not the coordinator's: why "command"). Drops what an earlier
-- attempt left on the record (finished_at, duration_ms, progress p_*, error_*, results r.*), sets
-- state "running", owner, lease_until = now + lease, started_at and updated_at; ZREM KEYS[4]
-- and ZADD KEYS[5] lease_until, both of member "<migration> <step> <n>"; appends the event
-- {migration, entity, from, to, attempt, actor, what, at} to KEYS[2] and KEYS[3].
--
-- Returns {"ok", "running", n, owner, lease_until, now, ""} after the change, or
-- {"conflict", state, attempt, owner, lease_until, now, why} (why: "state", "attempt", "kind"
-- or "command") when the attempt is not there to take; nothing is written then.
--
-- Checks come before the first write (lib/prologue.lua says why).

local record, history, events, queued, leases = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local migration, step, want_attempt, kind = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local worker, lease_ms = ARGV[5], tonumber(ARGV[6])
local events_max, history_max, digest = ARGV[7], ARGV[8], ARGV[9]

if #KEYS ~= 5 or #ARGV ~= 9 or #digest ~= 64 or migration == '' or step == '' or kind == ''
    or worker == '' or tonumber(want_attempt) == nil or lease_ms == nil or lease_ms <= 0 then
    return ferry_refuse('step_claim', 'bad arguments')
end
if tonumber(events_max) == nil or tonumber(history_max) == nil then
    return ferry_refuse('step_claim', 'bad MAXLEN')
end
local want = {[record] = 'hash', [history] = 'stream', [events] = 'stream', [queued] = 'zset',
              [leases] = 'zset'}
local wrong = ferry_check_types('step_claim', want)
if wrong then
    return wrong
end

local cur = redis.call('HMGET', record, 'state', 'attempt', 'owner', 'lease_until', 'kind',
                       'command')
local state, attempt = cur[1] or '', cur[2] or '0'
local owner, lease_until, cur_kind = cur[3] or '', cur[4] or '0', cur[5] or ''
local recorded = cur[6] or ''

local at = ferry_now_ms()

local why = ''
if state ~= 'dispatched' then
    why = 'state'
elseif tonumber(attempt) ~= tonumber(want_attempt) then
    why = 'attempt'
elseif cur_kind ~= kind then
    why = 'kind'
elseif recorded ~= digest then
    why = 'command'
end
if why ~= '' then
    return {'conflict', state, attempt, owner, lease_until, at, why}
end

local until_ms = string.format('%.0f', tonumber(at) + lease_ms)
local stale = {'finished_at', 'duration_ms', 'p_done', 'p_total', 'p_unit', 'p_bytes_done',
               'p_bytes_total', 'p_rows', 'p_detail', 'error_code', 'error_name',
               'error_message', 'error_retryable'}
for _, name in ipairs(redis.call('HKEYS', record)) do
    if string.sub(name, 1, 2) == 'r.' then
        stale[#stale + 1] = name
    end
end
redis.call('HDEL', record, unpack(stale))
redis.call('HSET', record, 'state', 'running', 'owner', worker, 'lease_until', until_ms,
           'started_at', at, 'updated_at', at)
local member = migration .. ' ' .. step .. ' ' .. attempt
redis.call('ZREM', queued, member)
redis.call('ZADD', leases, until_ms, member)

local event = {'migration', migration, 'entity', 'step:' .. step, 'from', state,
               'to', 'running', 'attempt', attempt, 'actor', worker, 'what', 'claimed',
               'at', at}
ferry_emit(history, history_max, events, events_max, event)
return {'ok', 'running', attempt, worker, until_ms, at, ''}
