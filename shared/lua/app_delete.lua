#!lua
-- app_delete.lua - deletes an app and everything of its migrations, whole, or nothing when one
-- of them is not in a state that may be deleted (ferry_state_app_delete). The check and the
-- deletion are one step, so the engine cannot start a migration in between.
--
-- KEYS[1]  the app                 ferry:app:<app>
-- KEYS[2]  every app's name        ferry:apps
-- KEYS[3]  every migration id      ferry:migrations
-- KEYS[4]  the timers              ferry:timers
-- KEYS[5..] for each migration: its record, its steps (zset of step ids), its history
-- ARGV[1]  the app's name          ARGV[2]  n, how many states may be deleted
-- ARGV[3..2+n] those states
-- ARGV[3+n..] for each migration: its id, and the prefix of its step records
--             ("ferry:{<migration>}:step:")
--
-- Returns {"ok"}, or {"conflict", migration id, its state} with nothing deleted. Every check
-- (arguments, key types, states) comes before the first write (lib/prologue.lua says why).

local n_states = tonumber(ARGV[2])
if #KEYS < 4 or n_states == nil or n_states < 0 then
    return ferry_refuse('app_delete', 'bad arguments')
end
local n_migs = (#KEYS - 4) / 3
if n_migs ~= math.floor(n_migs) or #ARGV ~= 2 + n_states + 2 * n_migs then
    return ferry_refuse('app_delete', 'bad arguments')
end
local deletable = {}
for i = 1, n_states do
    deletable[ARGV[2 + i]] = true
end

local want = {[KEYS[1]] = 'hash', [KEYS[2]] = 'set', [KEYS[3]] = 'set', [KEYS[4]] = 'zset'}
for m = 0, n_migs - 1 do
    want[KEYS[5 + 3 * m]] = 'hash'
    want[KEYS[6 + 3 * m]] = 'zset'
    want[KEYS[7 + 3 * m]] = 'stream'
end
local wrong = ferry_check_types('app_delete', want)
if wrong then
    return wrong
end

for m = 0, n_migs - 1 do
    local record = KEYS[5 + 3 * m]
    local state = redis.call('HGET', record, 'state')
    if state and state ~= '' and not deletable[state] then
        return {'conflict', ARGV[3 + n_states + 2 * m], state}
    end
end

for m = 0, n_migs - 1 do
    local record, steps, history = KEYS[5 + 3 * m], KEYS[6 + 3 * m], KEYS[7 + 3 * m]
    local id, prefix = ARGV[3 + n_states + 2 * m], ARGV[4 + n_states + 2 * m]
    for _, step in ipairs(redis.call('ZRANGE', steps, 0, -1)) do
        redis.call('DEL', prefix .. step)
    end
    redis.call('DEL', record, steps, history)
    redis.call('SREM', KEYS[3], id)
    redis.call('ZREM', KEYS[4], id)
end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[1])
return {'ok'}
