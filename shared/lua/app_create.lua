#!lua
-- app_create.lua - stores a new app whole, or nothing when one of that name exists
-- (ferry_state_app_create).
--
-- KEYS[1]  the app            ferry:app:<app>
-- KEYS[2]  every app's name   ferry:apps
-- ARGV[1]  the app's name     ARGV[2]  its spec (the text as posted)
-- ARGV[3]  its environments, "a,b,..."    ARGV[4]  created_at (ms)
--
-- Returns 1 when the app was stored, 0 when it exists already (nothing is written then).

if #KEYS ~= 2 or #ARGV ~= 4 or ARGV[1] == '' then
    return ferry_refuse('app_create', 'bad arguments')
end
if redis.call('EXISTS', KEYS[1]) == 1 then
    return 0
end
local wrong = ferry_check_types('app_create', {[KEYS[2]] = 'set'})
if wrong then
    return wrong
end
redis.call('HSET', KEYS[1], 'spec', ARGV[2], 'environments', ARGV[3], 'created_at', ARGV[4])
redis.call('SADD', KEYS[2], ARGV[1])
return 1
