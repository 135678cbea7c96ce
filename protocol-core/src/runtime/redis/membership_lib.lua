local function entry(room, id) return string.len(room) .. ':' .. room .. id end
local function split(e)
  local colon = string.find(e, ':', 1, true)
  local n = tonumber(string.sub(e, 1, colon - 1))
  return string.sub(e, colon + 1, colon + n), string.sub(e, colon + n + 1)
end
