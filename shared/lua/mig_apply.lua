#!lua
-- mig_apply.lua - applies one plan of the coordinator's state machine to one migration, whole or
-- not at all: the migration's state change, the steps it creates, retries and cancels, its timer.
--
-- KEYS[1]  ferry:{m}:migration     KEYS[2]  ferry:{m}:history     KEYS[3]  ferry:events
-- KEYS[4]  ferry:{m}:steps         KEYS[5]  ferry:pending         KEYS[6]  ferry:leases
-- KEYS[7]  ferry:timers            KEYS[8]  ferry:migrations
-- KEYS[9..12] ferry:queued:dump_restore, :file_sync, :dns, :app
-- KEYS[13] ferry:metrics (a retry that counts adds 1 to its field retry:<kind>)
-- ARGV[1]  migration id            ARGV[2]  actor
-- ARGV[3]  the plan, JSON (numbers as strings):
--   {"expect": [states...] ("" = absent), "expect_cycle": "n" or "",
--    "change": true, "to": state, "what": event type, "new_cycle": bool, "index": bool,
--    "fields": {name: value}, "wake_at": "ms",
--    "creates": [{"purpose", "kind", "operation", "prefix", "deadline", "pass"}],
--    "retries": [{"step", "attempt", "not_before", "count": bool, "reset": bool, "what"}],
--    "cancels": [{"step", "reason"}],
--    "events_max": "n", "history_max": "n"}
--
-- Returns {"ok", cycle, created step ids...}, or {"conflict", state, cycle, why} with nothing
-- written when the migration is not in an expected state or cycle, or a step to retry is no
-- longer where the plan saw it. Step records are ferry:{m}:step:<id> (same hash slot).
--
-- Every check comes before the first write (Redis does not undo a script's earlier writes).

local mkey, history, events, steps_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local pending, leases, timers, index = KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local queued = {dump_restore = KEYS[9], file_sync = KEYS[10], dns = KEYS[11], app = KEYS[12]}
local mig, actor = ARGV[1], ARGV[2]
local metrics = KEYS[13]
if #KEYS ~= 13 or #ARGV ~= 3 then
    return ferry_refuse('mig_apply', 'bad arguments')
end
local ok, plan = pcall(cjson.decode, ARGV[3])
if not ok or type(plan) ~= 'table' then
    return ferry_refuse('mig_apply', 'the plan is not JSON')
end
local function str(v, default)
    if v == nil or v == cjson.null then return default end
    return tostring(v)
end
local step_prefix = string.sub(mkey, 1, #mkey - #'migration') .. 'step:'

-- ---- checks
local want = {[mkey] = 'hash', [history] = 'stream', [events] = 'stream', [steps_key] = 'zset',
              [pending] = 'zset', [leases] = 'zset', [timers] = 'zset', [index] = 'set',
              [metrics] = 'hash'}
for _, q in pairs(queued) do want[q] = 'zset' end
local wrong = ferry_check_types('mig_apply', want)
if wrong then
    return wrong
end
local cur = redis.call('HMGET', mkey, 'state', 'cycle')
local state, cycle = cur[1] or '', tonumber(cur[2] or '0') or 0
local allowed = false
for _, s in ipairs(plan.expect or {}) do
    if s == state then allowed = true end
end
if not allowed then
    return {'conflict', state, tostring(cycle), 'state'}
end
if str(plan.expect_cycle, '') ~= '' and tonumber(plan.expect_cycle) ~= cycle then
    return {'conflict', state, tostring(cycle), 'cycle'}
end
local final = {succeeded = true, failed = true, released = true, expired = true, canceled = true}
for _, r in ipairs(plan.retries or {}) do
    local s = redis.call('HMGET', step_prefix .. r.step, 'state', 'attempt')
    if not final[s[1] or ''] or tonumber(s[2] or '0') ~= tonumber(r.attempt) then
        return {'conflict', state, tostring(cycle), 'step ' .. r.step}
    end
end
for _, c in ipairs(plan.creates or {}) do
    if queued[c.kind or ''] == nil then
        return ferry_refuse('mig_apply', 'unknown kind ' .. tostring(c.kind))
    end
end

-- ---- writes
local at = ferry_now_ms()
local ev_max, hist_max = str(plan.events_max, '100000'), str(plan.history_max, '10000')
local function event(entity, from, to, attempt, what)
    local e = {'migration', mig, 'entity', entity, 'from', from, 'to', to, 'attempt', attempt,
               'actor', actor, 'what', what, 'at', at}
    ferry_emit(history, hist_max, events, ev_max, e)
end

if plan.change then
    if plan.new_cycle then
        cycle = cycle + 1
    end
    local set = {'state', plan.to, 'cycle', tostring(cycle), 'updated_at', at}
    for k, v in pairs(plan.fields or {}) do
        set[#set + 1] = k
        set[#set + 1] = str(v, '')
    end
    redis.call('HSET', mkey, unpack(set))
    if plan.index then
        redis.call('SADD', index, mig)
    end
    local what = str(plan.what, 'changed')
    if what == 'phase' then
        what = 'phase:' .. str((plan.fields or {}).phase, '')
    end
    event('migration', state, plan.to, tostring(cycle), what)
end

-- The order in which the engine dispatches: steps of a cutover or a rollback (the app is down,
-- or about to be) go ahead of every replication step, so they never wait behind the fleet's
-- routine work for a worker or a limit slot. Their score lies far in the past; the engine
-- still honours a step's not_before.
local URGENT_AHEAD_MS = 1e12
local function queue_score(purpose, t)
    local p = purpose or ''
    if string.sub(p, 1, 8) == 'cutover.' or string.sub(p, 1, 9) == 'rollback.' then
        return t - URGENT_AHEAD_MS
    end
    return t
end

for _, c in ipairs(plan.cancels or {}) do
    local key = step_prefix .. c.step
    local s = redis.call('HMGET', key, 'state', 'attempt', 'kind')
    local st, attempt = s[1] or '', s[2] or '0'
    if st == 'pending' or st == 'dispatched' or st == 'running' then
        redis.call('HSET', key, 'state', 'canceled', 'updated_at', at, 'finished_at', at,
                   'error_message', str(c.reason, 'canceled'))
        local member = mig .. ' ' .. c.step .. ' ' .. attempt
        redis.call('ZREM', pending, member)
        redis.call('ZREM', leases, member)
        if queued[s[3] or ''] then redis.call('ZREM', queued[s[3]], member) end
        event('step:' .. c.step, st, 'canceled', attempt, 'canceled')
    end
end

for _, r in ipairs(plan.retries or {}) do
    local key = step_prefix .. r.step
    local s = redis.call('HMGET', key, 'state', 'retries', 'purpose', 'kind')
    local retries = tonumber(s[2] or '0') or 0
    if r.reset then
        retries = 0
    elseif r.count then
        retries = retries + 1
        local kind = s[4] or ''
        if kind == '' or string.find(kind, '[:%s]') then kind = 'unknown' end
        redis.call('HINCRBY', metrics, 'retry:' .. kind, 1)
    end
    local attempt = tostring(tonumber(r.attempt) + 1)
    local nb = str(r.not_before, '0')
    redis.call('HSET', key, 'state', 'pending', 'attempt', attempt, 'retries', tostring(retries),
               'not_before', nb, 'updated_at', at, 'owner', '', 'lease_until', '0')
    local score = tonumber(nb) or 0
    if score < tonumber(at) then score = tonumber(at) end
    redis.call('ZADD', pending, queue_score(s[3], score), mig .. ' ' .. r.step .. ' ' .. attempt)
    event('step:' .. r.step, s[1], 'pending', attempt, str(r.what, 'retry'))
end

local created = {}
for _, c in ipairs(plan.creates or {}) do
    local seq = redis.call('HINCRBY', mkey, 'next_seq', 1)
    local id = c.prefix .. '-' .. seq
    redis.call('HSET', step_prefix .. id, 'state', 'pending', 'attempt', '1', 'updated_at', at,
               'created_at', at, 'kind', c.kind, 'operation', c.operation, 'purpose', c.purpose,
               'cycle', tostring(cycle), 'seq', tostring(seq), 'retries', '0',
               'not_before', '0', 'deadline', str(c.deadline, '0'), 'pass', str(c.pass, '0'))
    redis.call('ZADD', steps_key, seq, id)
    redis.call('ZADD', pending, queue_score(c.purpose, tonumber(at)), mig .. ' ' .. id .. ' 1')
    redis.call('HSET', mkey, 'cur.' .. c.purpose, id)
    event('step:' .. id, '', 'pending', '1', 'created')
    created[#created + 1] = id
end

local wake = tonumber(str(plan.wake_at, '0')) or 0
if wake > 0 then
    redis.call('ZADD', timers, wake, mig)
end

local out = {'ok', tostring(cycle)}
for _, id in ipairs(created) do out[#out + 1] = id end
return out
