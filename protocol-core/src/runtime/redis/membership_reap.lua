local p, node = ARGV[1], ARGV[2]
if redis.call('EXISTS', p .. ':alive:' .. node) == 1 then return false end
local nk = p .. ':node:' .. node
local gone = {}
for _, e in ipairs(redis.call('SMEMBERS', nk)) do
  local room, id = split(e)
  local rk = p .. ':room:' .. room
  if redis.call('HINCRBY', rk, id, -1) <= 0 then
    redis.call('HDEL', rk, id)
    table.insert(gone, room)
    table.insert(gone, id)
  end
end
redis.call('DEL', nk)
redis.call('DEL', p .. ':online:' .. node)
redis.call('SREM', p .. ':nodes', node)
return gone
