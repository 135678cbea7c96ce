local p, node, room, id = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local rk = p .. ':room:' .. room
redis.call('SADD', p .. ':nodes', node)
local first = 0
if redis.call('SADD', p .. ':node:' .. node, entry(room, id)) == 1 then
  if redis.call('HINCRBY', rk, id, 1) == 1 then first = 1 end
end
local vk = p .. ':version'
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local v = redis.call('INCR', vk)
if v < now then
  redis.call('SET', vk, string.format('%.0f', now))
  v = now
end
return {first, redis.call('HKEYS', rk), v}
