#!lua
-- mig_load.lua - one migration as the coordinator's state machine needs it, in one round trip.
--
-- KEYS[1]  the migration record  ferry:{<migration>}:migration
-- ARGV[1]  the prefix of its step records, "ferry:{<migration>}:step:"
--
-- Returns {now_ms, migration fields (flat name, value list), then one flat field list per step
-- named by a "cur.<purpose>" field of the migration (the latest step of each purpose)}. A
-- migration that does not exist gives {now_ms, {}}. Read-only: safe to run again.

local now_ms = ferry_now_ms()
local mig = redis.call('HGETALL', KEYS[1])
local out = {now_ms, mig}
for i = 1, #mig, 2 do
    if string.sub(mig[i], 1, 4) == 'cur.' then
        local step = redis.call('HGETALL', ARGV[1] .. mig[i + 1])
        if #step > 0 then
            out[#out + 1] = step
        end
    end
end
return out
