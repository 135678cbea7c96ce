-- Shared by stream_append.lua and stream_read.lua (prepended to each).
--
-- A room's stream is two keys:
--   KEYS[1] = {prefix}:smeta:{room}   hash: epoch (16 hex digits), last (the latest offset)
--   KEYS[2] = {prefix}:stream:{room}  Redis stream: entry id "{offset}-0", fields t (Redis
--                                     time in microseconds when appended) and f (the frame)
-- Both expire after the history's max_age without an append: the room's history is gone,
-- and the next use starts a new epoch.

-- An integer as decimal digits (tostring would write 1e+15 for large ones).
local function num(n)
  return string.format('%.0f', n)
end

-- Redis's clock in microseconds.
local function now_us()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end

-- The offset of an entry id "{offset}-0".
local function offset_of(id)
  return tonumber(string.sub(id, 1, string.find(id, '-', 1, true) - 1))
end

-- The room's epoch and latest offset. Without a meta (never used, expired, or Redis lost it)
-- a new stream: epoch `candidate`, offset 0, and no entries (any left from before are not of
-- this epoch, so they go).
local function open(meta, stream, candidate, ttl_ms)
  local m = redis.call('HMGET', meta, 'epoch', 'last')
  if m[1] then
    return m[1], tonumber(m[2]) or 0
  end
  redis.call('DEL', stream)
  redis.call('HSET', meta, 'epoch', candidate, 'last', 0)
  redis.call('PEXPIRE', meta, ttl_ms)
  return candidate, 0
end

-- Remove the entries at least max_age_us old, oldest first. The usual case reads one entry
-- (the oldest, still fresh); otherwise each pass looks at up to 64 entries and removes them or
-- stops at the first fresh one, so it ends within the stream's length.
local function expire(stream, now, max_age_us)
  local cutoff = now - max_age_us
  local count = 1
  while true do
    local batch = redis.call('XRANGE', stream, '-', '+', 'COUNT', count)
    if #batch == 0 then
      return
    end
    local fresh = nil
    for _, e in ipairs(batch) do
      if tonumber(e[2][2]) > cutoff then
        fresh = e[1]
        break
      end
    end
    if fresh == batch[1][1] then
      return
    end
    if fresh then
      redis.call('XTRIM', stream, 'MINID', fresh)
      return
    end
    redis.call('XTRIM', stream, 'MINID', num(offset_of(batch[#batch][1]) + 1) .. '-0')
    count = 64
  end
end

-- 8 bytes, little-endian: the offset in a publication's version slot.
local function le64(n)
  local b = {}
  for i = 1, 8 do
    b[i] = n % 256
    n = math.floor(n / 256)
  end
  return string.char(unpack(b))
end
