local p, node, room, id = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if redis.call('SREM', p .. ':node:' .. node, entry(room, id)) == 1 then
  local rk = p .. ':room:' .. room
  if redis.call('HINCRBY', rk, id, -1) <= 0 then
    redis.call('HDEL', rk, id)
    return 1
  end
end
return 0
