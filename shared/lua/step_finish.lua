#!lua
-- step_finish.lua - a worker ends a running attempt it owns (ferry_steps_finish): running at
-- attempt n -> succeeded, failed or released.
--
-- KEYS[1]  the step record         ferry:{<migration>}:step:<id>
-- KEYS[2]  the migration history   ferry:{<migration>}:history
-- KEYS[3]  the global event stream ferry:events
-- KEYS[4]  the leases              ferry:leases
-- KEYS[5]  the metrics' counters   ferry:metrics
-- ARGV[1]  migration id            ARGV[2]  step id
-- ARGV[3]  attempt n               ARGV[4]  worker id (the owner)
-- ARGV[5]  the end state: "succeeded", "failed" or "released"
-- ARGV[6]  MAXLEN ~ of KEYS[3]     ARGV[7]  MAXLEN ~ of KEYS[2]
-- ARGV[8]  the duration histogram's bucket bounds, ms, ascending: "1000 5000 ..."
-- ARGV[9..] field, value pairs: progress (p_*), error (error_*) and results (r.*) only
--
-- Requires state "running" at attempt n, owned by ARGV[4], lease_until after now. Sets the end state, finished_at,
-- duration_ms (finished_at - started_at), updated_at and the given fields; ZREM KEYS[4]
-- "<migration> <step> <n>"; appends the event {migration, entity, from, to, attempt, actor,
-- what, at} to KEYS[2] and KEYS[3]. When the duration is known, adds the step to the counters in
-- KEYS[5] (ferry/state.h, "metrics"): step:<kind>:<end>:count, :sum_ms and the one bucket
-- :le:<bound> (or :le:inf) its duration falls in; <kind> is the record's kind.
--
-- Returns {"ok", end state, n, owner, lease_until, now, ""} after the change, or
-- {"conflict", state, attempt, owner, lease_until, now, why} (why: "state", "attempt",
-- "owner", or "lease": lease_until is not after Redis's clock) when this worker no longer
-- holds the attempt; nothing is written then.
--
-- Checks come before the first write (lib/prologue.lua says why).

local record, history, events, leases = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local migration, step, want_attempt, worker = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local to, events_max, history_max, bounds_text = ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local metrics = KEYS[5]

local ends = {succeeded = true, failed = true, released = true}
if #KEYS ~= 5 or #ARGV < 8 or (#ARGV - 8) % 2 ~= 0 or migration == '' or step == ''
    or worker == '' or tonumber(want_attempt) == nil or not ends[to] then
    return ferry_refuse('step_finish', 'bad arguments')
end
if tonumber(events_max) == nil or tonumber(history_max) == nil then
    return ferry_refuse('step_finish', 'bad MAXLEN')
end
local bounds = {}
for b in string.gmatch(bounds_text, '%S+') do
    local n = tonumber(b)
    if n == nil or (#bounds > 0 and n <= bounds[#bounds]) then
        return ferry_refuse('step_finish', 'bad bucket bounds')
    end
    bounds[#bounds + 1] = n
end
for i = 9, #ARGV, 2 do
    local name = ARGV[i]
    local p2, p6 = string.sub(name, 1, 2), string.sub(name, 1, 6)
    if #name < 3 or (p2 ~= 'p_' and p2 ~= 'r.' and p6 ~= 'error_') then
        return ferry_refuse('step_finish', 'only p_*, error_* and r.* may be set')
    end
end
local want = {[record] = 'hash', [history] = 'stream', [events] = 'stream', [leases] = 'zset',
              [metrics] = 'hash'}
local wrong = ferry_check_types('step_finish', want)
if wrong then
    return wrong
end

local cur = redis.call('HMGET', record, 'state', 'attempt', 'owner', 'lease_until', 'started_at',
                      'kind')
local state, attempt = cur[1] or '', cur[2] or '0'
local owner, lease_until, started_at = cur[3] or '', cur[4] or '0', tonumber(cur[5] or '')
local kind = cur[6] or ''
if kind == '' or string.find(kind, '[:%s]') then
    kind = 'unknown'
end

local at = ferry_now_ms()

local why = ''
if state ~= 'running' then
    why = 'state'
elseif tonumber(attempt) ~= tonumber(want_attempt) then
    why = 'attempt'
elseif owner ~= worker then
    why = 'owner'
elseif tonumber(lease_until) == nil or tonumber(lease_until) <= tonumber(at) then
    -- The lease ran out, even if the coordinator has not expired it yet: another attempt may
    -- be about to start, so this one may neither extend nor end it.
    why = 'lease'
end
if why ~= '' then
    return {'conflict', state, attempt, owner, lease_until, at, why}
end

local set = {'state', to, 'finished_at', at, 'updated_at', at}
local duration = nil
if started_at ~= nil then
    duration = math.max(0, tonumber(at) - started_at)
    set[#set + 1] = 'duration_ms'
    set[#set + 1] = string.format('%.0f', duration)
end
for i = 9, #ARGV do
    set[#set + 1] = ARGV[i]
end
redis.call('HSET', record, unpack(set))
redis.call('ZREM', leases, migration .. ' ' .. step .. ' ' .. attempt)
if duration ~= nil then
    local prefix = 'step:' .. kind .. ':' .. to .. ':'
    local bucket = 'inf'
    for _, b in ipairs(bounds) do
        if duration <= b then
            bucket = string.format('%.0f', b)
            break
        end
    end
    redis.call('HINCRBY', metrics, prefix .. 'count', 1)
    redis.call('HINCRBY', metrics, prefix .. 'sum_ms', string.format('%.0f', duration))
    redis.call('HINCRBY', metrics, prefix .. 'le:' .. bucket, 1)
end

local event = {'migration', migration, 'entity', 'step:' .. step, 'from', state, 'to', to,
               'attempt', attempt, 'actor', worker, 'what', to, 'at', at}
ferry_emit(history, history_max, events, events_max, event)
return {'ok', to, attempt, owner, lease_until, at, ''}
