#!lua
-- step_renew.lua - a worker extends the lease of a running attempt it owns and stores its
-- progress (ferry_steps_renew). No event: a renewal only moves lease_until and progress.
--
-- KEYS[1]  the step record         ferry:{<migration>}:step:<id>
-- KEYS[2]  the leases              ferry:leases
-- ARGV[1]  migration id            ARGV[2]  step id
-- ARGV[3]  attempt n               ARGV[4]  worker id (the owner)
-- ARGV[5]  lease in ms (> 0)
-- ARGV[6..] progress field, value pairs (names p_*)
--
-- Requires state "running" at attempt n, owned by ARGV[4], lease_until after now. Sets
-- lease_until = now + lease and the progress fields (updated_at stays: it dates state
-- changes); ZADD KEYS[2] lease_until "<migration> <step> <n>".
--
-- Returns {"ok", "running", n, owner, lease_until, now, ""} after the change, or
-- {"lost", state, attempt, owner, lease_until, now, why} (why: "state", "attempt", "owner"
-- or "lease": lease_until is not after Redis's clock) when this worker no longer holds the
-- attempt; nothing is written then.
--
-- Checks come before the first write (lib/prologue.lua says why).

local record, leases = KEYS[1], KEYS[2]
local migration, step, want_attempt = ARGV[1], ARGV[2], ARGV[3]
local worker, lease_ms = ARGV[4], tonumber(ARGV[5])

if #KEYS ~= 2 or #ARGV < 5 or (#ARGV - 5) % 2 ~= 0 or migration == '' or step == ''
    or worker == '' or tonumber(want_attempt) == nil or lease_ms == nil or lease_ms <= 0 then
    return ferry_refuse('step_renew', 'bad arguments')
end
for i = 6, #ARGV, 2 do
    if string.sub(ARGV[i], 1, 2) ~= 'p_' then
        return ferry_refuse('step_renew', 'only progress fields (p_*) may be set')
    end
end
local want = {[record] = 'hash', [leases] = 'zset'}
local wrong = ferry_check_types('step_renew', want)
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
elseif owner ~= worker then
    why = 'owner'
elseif tonumber(lease_until) == nil or tonumber(lease_until) <= tonumber(at) then
    -- The lease ran out, even if the coordinator has not expired it yet: another attempt may
    -- be about to start, so this one may neither extend nor end it.
    why = 'lease'
end
if why ~= '' then
    return {'lost', state, attempt, owner, lease_until, at, why}
end

local until_ms = string.format('%.0f', tonumber(at) + lease_ms)
local set = {'lease_until', until_ms}
for i = 6, #ARGV do
    set[#set + 1] = ARGV[i]
end
redis.call('HSET', record, unpack(set))
redis.call('ZADD', leases, until_ms, migration .. ' ' .. step .. ' ' .. attempt)
return {'ok', 'running', attempt, owner, until_ms, at, ''}
