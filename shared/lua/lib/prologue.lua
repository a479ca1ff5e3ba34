-- prologue.lua - what every script in shared/lua/ starts with. At build time cmake/embed.cmake
-- puts this text right after each script's "#!lua" line (Redis 7 needs the shebang on line 1),
-- so the helpers below are locals of every script; they are not a script of their own.
--
-- The rule each script keeps: every check that can fail comes before the first write. Redis
-- runs a script atomically but does not undo the writes it made before a later command failed,
-- so a change must be refused whole or applied whole. The "#!lua" line makes Redis refuse the
-- whole script up front when it is out of memory or cannot persist, rather than at its first
-- write. docs/redis.md, "Never half applied".

-- The error reply for arguments the caller got wrong: "ERR ferry <script>: <what>".
local function ferry_refuse(script, what)
    return redis.error_reply('ERR ferry ' .. script .. ': ' .. what)
end

-- Checks that each key of want ({[key] = 'hash' | 'stream' | 'zset' | 'set' | 'string'}) holds
-- that type or does not exist. Returns nil when all do, else the WRONGTYPE error reply to return
-- ("WRONGTYPE ferry <script>: <key> is a <type>"). Reads only: call it before any write.
local function ferry_check_types(script, want)
    for key, kind in pairs(want) do
        local t = redis.call('TYPE', key).ok
        if t ~= 'none' and t ~= kind then
            return redis.error_reply('WRONGTYPE ferry ' .. script .. ': ' .. key .. ' is a ' .. t)
        end
    end
    return nil
end

-- Redis's clock in milliseconds since the epoch, as a decimal string: the one clock every
-- writer stamps with. Redis 7 replicates a script by its effects (the writes with the values
-- already computed), so this non-deterministic read is safe before a write.
local function ferry_now_ms()
    local t = redis.call('TIME')
    return t[1] .. string.format('%03d', math.floor(tonumber(t[2]) / 1000))
end

-- Appends one event (a flat field, value list) to the migration's history and to the global
-- event stream, each capped at about its MAXLEN. Returns the two entry ids (history, events).
local function ferry_emit(history, history_max, events, events_max, event)
    local history_id = redis.call('XADD', history, 'MAXLEN', '~', history_max, '*', unpack(event))
    local event_id = redis.call('XADD', events, 'MAXLEN', '~', events_max, '*', unpack(event))
    return history_id, event_id
end

-- The script follows.
