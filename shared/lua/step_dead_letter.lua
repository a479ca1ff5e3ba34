#!lua
-- step_dead_letter.lua - the coordinator counts a dead letter of a dispatched attempt
-- (ferry_steps_dead_lettered): a worker sent the step's command to the dead-letter topic (an
-- operation it does not know, a claim refused as invalid). After `max` of them for the same
-- attempt it fails for good, with the dead letter's reason, instead of being published again
-- without end: dispatched at attempt n -> failed.
--
-- KEYS[1]  the step record         ferry:{<migration>}:step:<id>
-- KEYS[2]  the migration history   ferry:{<migration>}:history
-- KEYS[3]  the global event stream ferry:events
-- KEYS[4]  the kind's queue        ferry:queued:<kind>
-- ARGV[1]  migration id            ARGV[2]  step id
-- ARGV[3]  attempt n               ARGV[4]  kind (wire name)
-- ARGV[5]  actor                   ARGV[6]  max (>= 1)
-- ARGV[7]  the dead letter's reason
-- ARGV[8]  error_code              ARGV[9]  error_name
-- ARGV[10] MAXLEN ~ of KEYS[3]     ARGV[11] MAXLEN ~ of KEYS[2]
--
-- Requires state "dispatched" at attempt n, of kind ARGV[4]. Counts the dead letter on the
-- record (dl_attempt, dl_count: the count of this attempt). At max: state "failed",
-- finished_at, updated_at, error_code, error_name, error_message "rejected by every worker
-- (<count> dead letters): <reason>", error_retryable "0"; ZREM KEYS[4] "<migration> <step> <n>";
-- appends the event {..., what "dead_lettered"} to KEYS[2] and KEYS[3].
--
-- Returns {"counted", count} or {"failed", count}, or {"ignored", state, attempt} when the
-- attempt is not dispatched (claimed, finished, superseded): nothing is written then.
--
-- Checks come before the first write (lib/prologue.lua says why).

local record, history, events, queued = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local migration, step, want_attempt, kind = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local actor, max, reason = ARGV[5], tonumber(ARGV[6]), ARGV[7]
local error_code, error_name = ARGV[8], ARGV[9]
local events_max, history_max = ARGV[10], ARGV[11]

if #KEYS ~= 4 or #ARGV ~= 11 or migration == '' or step == '' or kind == '' or actor == ''
    or tonumber(want_attempt) == nil or max == nil or max < 1 or tonumber(error_code) == nil
    or error_name == '' then
    return ferry_refuse('step_dead_letter', 'bad arguments')
end
if tonumber(events_max) == nil or tonumber(history_max) == nil then
    return ferry_refuse('step_dead_letter', 'bad MAXLEN')
end
local want = {[record] = 'hash', [history] = 'stream', [events] = 'stream', [queued] = 'zset'}
local wrong = ferry_check_types('step_dead_letter', want)
if wrong then
    return wrong
end

local cur = redis.call('HMGET', record, 'state', 'attempt', 'kind', 'dl_attempt', 'dl_count')
local state, attempt, cur_kind = cur[1] or '', cur[2] or '0', cur[3] or ''
if state ~= 'dispatched' or tonumber(attempt) ~= tonumber(want_attempt) or cur_kind ~= kind then
    return {'ignored', state, attempt}
end
local count = 1
if cur[4] == attempt then
    count = (tonumber(cur[5]) or 0) + 1
end

local at = ferry_now_ms()
if count < max then
    redis.call('HSET', record, 'dl_attempt', attempt, 'dl_count', tostring(count))
    return {'counted', tostring(count)}
end

local message = 'rejected by every worker (' .. count .. ' dead letters): ' .. reason
redis.call('HSET', record, 'dl_attempt', attempt, 'dl_count', tostring(count), 'state', 'failed',
           'finished_at', at, 'updated_at', at, 'error_code', error_code,
           'error_name', error_name, 'error_message', message, 'error_retryable', '0')
redis.call('ZREM', queued, migration .. ' ' .. step .. ' ' .. attempt)
local event = {'migration', migration, 'entity', 'step:' .. step, 'from', state,
               'to', 'failed', 'attempt', attempt, 'actor', actor, 'what', 'dead_lettered',
               'at', at}
ferry_emit(history, history_max, events, events_max, event)
return {'failed', tostring(count)}
