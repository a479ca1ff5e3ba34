#!lua
-- limit_acquire.lua - takes one slot in every named concurrency limit, or none.
--
-- KEYS[1]    ferry:limit_keys (the set of every limit key, for the coordinator's sweep)
-- KEYS[2..n] the limits, ferry:limit:<name> (zsets of holders)
-- ARGV[1]    the holder, "<migration> <step>"     ARGV[2]  now (ms, the score)
-- ARGV[3..n] the size of each limit, in the order of KEYS[2..n]
--
-- Returns 1 when the holder has a slot in every limit (taken now, or held already), or 0 and
-- the first full limit's key; nothing is written then.
local holder, now = ARGV[1], ARGV[2]
if #KEYS < 2 or #ARGV ~= #KEYS + 1 or holder == '' or tonumber(now) == nil then
    return ferry_refuse('limit_acquire', 'bad arguments')
end
local want = {[KEYS[1]] = 'set'}
for i = 2, #KEYS do
    if tonumber(ARGV[i + 1]) == nil then
        return ferry_refuse('limit_acquire', 'bad limit size')
    end
    want[KEYS[i]] = 'zset'
end
local wrong = ferry_check_types('limit_acquire', want)
if wrong then
    return wrong
end
for i = 2, #KEYS do
    local max = tonumber(ARGV[i + 1])
    if redis.call('ZSCORE', KEYS[i], holder) == false and redis.call('ZCARD', KEYS[i]) >= max then
        return {0, KEYS[i]}
    end
end
for i = 2, #KEYS do
    redis.call('ZADD', KEYS[i], 'NX', now, holder)
    redis.call('SADD', KEYS[1], KEYS[i])
end
return {1, ''}
