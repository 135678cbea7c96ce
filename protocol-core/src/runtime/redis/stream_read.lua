-- Read a room's stored messages (see stream_lib.lua for the keys), then publish this
-- node's fence: once the node receives it, it has delivered every message appended before
-- this read.
-- ARGV[1] epoch candidate (used when the stream is new), ARGV[2] expiry of a new meta in ms,
-- ARGV[3] max_messages, ARGV[4] max_age in microseconds, ARGV[5] 'after' or 'before',
-- ARGV[6] after: the offset to read after; before: the offset to read below, -1 for none,
-- ARGV[7] at most this many entries, ARGV[8] the broker channel, ARGV[9] the fence.
-- Returns {epoch, last, first, {{offset, frame}, ...}}, entries oldest first; `first` is the
-- oldest offset stored (last + 1 when none is).
local meta, stream = KEYS[1], KEYS[2]
local max_messages, max_age = tonumber(ARGV[3]), tonumber(ARGV[4])
local n, limit = tonumber(ARGV[6]), tonumber(ARGV[7])
local epoch, last = open(meta, stream, ARGV[1], tonumber(ARGV[2]))
if max_messages > 0 and max_age > 0 then
  expire(stream, now_us(), max_age)
else
  redis.call('DEL', stream)
end
local first = last + 1
local oldest = redis.call('XRANGE', stream, '-', '+', 'COUNT', 1)
if #oldest > 0 then
  first = offset_of(oldest[1][1])
end
-- MAXLEN ~ trims whole nodes, so a few more than max_messages may be stored: they are not
-- part of the history.
if first < last - max_messages + 1 then
  first = last - max_messages + 1
end
local entries = {}
if limit > 0 then
  if ARGV[5] == 'after' then
    local from = math.max(n + 1, first)
    if from <= last then
      local got = redis.call('XRANGE', stream, num(from) .. '-0', num(last) .. '-0',
        'COUNT', limit)
      for _, e in ipairs(got) do
        table.insert(entries, {offset_of(e[1]), e[2][4]})
      end
    end
  else
    local upto = last
    if n >= 0 and n - 1 < upto then
      upto = n - 1
    end
    if upto >= first then
      local got = redis.call('XREVRANGE', stream, num(upto) .. '-0', num(first) .. '-0',
        'COUNT', limit)
      for i = #got, 1, -1 do
        table.insert(entries, {offset_of(got[i][1]), got[i][2][4]})
      end
    end
  end
end
redis.call('PUBLISH', ARGV[8], ARGV[9])
return {epoch, last, first, entries}
