-- Append one message to a room's stream and publish it, atomically (see stream_lib.lua
-- for the keys).
-- ARGV[1] epoch candidate (used when the stream is new), ARGV[2] max_messages (0: keep none),
-- ARGV[3] max_age in microseconds (0: keep none), ARGV[4] expiry of the keys in ms,
-- ARGV[5] the broker channel, ARGV[6] the publication up to its version slot, ARGV[7] the
-- publication after it, up to the frame, ARGV[8] the frame before the offset's digits,
-- ARGV[9] the frame after them.
-- Returns {epoch, offset}.
local meta, stream = KEYS[1], KEYS[2]
local max_messages, max_age, ttl = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local epoch = open(meta, stream, ARGV[1], ttl)
local offset = redis.call('HINCRBY', meta, 'last', 1)
local o = num(offset)
local frame = ARGV[8] .. o .. ARGV[9]
if max_messages > 0 and max_age > 0 then
  local now = now_us()
  redis.call('XADD', stream, 'MAXLEN', '~', num(max_messages), o .. '-0', 't', num(now), 'f', frame)
  expire(stream, now, max_age)
  redis.call('PEXPIRE', stream, ttl)
else
  redis.call('DEL', stream)
end
redis.call('PEXPIRE', meta, ttl)
-- Published here, so every node receives one room's messages in offset order.
redis.call('PUBLISH', ARGV[5], ARGV[6] .. le64(offset) .. ARGV[7] .. frame)
return {epoch, offset}
