#!lua
-- leader.lua - takes or keeps the coordinator's leadership lease.
--
-- KEYS[1]  ferry:coordinator:leader
-- ARGV[1]  this instance's id      ARGV[2]  lease in milliseconds
--
-- Returns 1 when this instance holds the lease now (taken or renewed), else 0 (another instance
-- holds it; the reply's second element says which). A coordinator runs its engine only while
-- it holds the lease, so a standby takes over when the active one stops renewing.
local cur = redis.call('GET', KEYS[1])
if cur == false or cur == ARGV[1] then
    redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
    return {1, ARGV[1]}
end
return {0, cur}
