-- GCRA over several limits at once, atomically: a port of launch_control/ratelimit/gcra.py:decide.
--
-- KEYS[i]    the TAT key of limit i (all keys of one request share one {org} hash tag, so the
--            script runs on Redis Cluster too)
-- ARGV[2i-1] emission interval T of limit i, integer microseconds
-- ARGV[2i]   tolerance tau = burst * T of limit i, integer microseconds
--
-- Returns {admitted, now_us, then per limit: allowed, remaining, retry_after_us, reset_us}.
-- The request is admitted only if every limit admits it; only then do the TATs advance.
-- The clock is the server's own (TIME), never the client's.

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local n = #KEYS
local tats = {}
local admitted = 1

for i = 1, n do
  local stored = redis.call('GET', KEYS[i])
  local tat = now
  if stored then
    tat = tonumber(stored)
    if tat < now then tat = now end
  end
  tats[i] = tat
  if tat - now > tonumber(ARGV[2 * i]) then admitted = 0 end
end

local out = {admitted, now}
for i = 1, n do
  local emission = tonumber(ARGV[2 * i - 1])
  local tau = tonumber(ARGV[2 * i])
  local tat = tats[i]
  if admitted == 1 then
    local new = tat + emission
    -- the key lives exactly as long as it holds information: until the bucket is full again
    redis.call('SET', KEYS[i], string.format('%d', new), 'PX', math.ceil((new - now) / 1000))
    local remaining = math.floor((tau + emission - (new - now)) / emission)
    if remaining < 0 then remaining = 0 end
    out[#out + 1] = 1
    out[#out + 1] = remaining
    out[#out + 1] = 0
    out[#out + 1] = new - now
  elseif tat - now <= tau then
    local remaining = math.floor((tau + emission - (tat - now)) / emission)
    if remaining < 0 then remaining = 0 end
    out[#out + 1] = 1
    out[#out + 1] = remaining
    out[#out + 1] = 0
    out[#out + 1] = tat - now
  else
    out[#out + 1] = 0
    out[#out + 1] = 0
    out[#out + 1] = tat - tau - now
    out[#out + 1] = tat - now
  end
end
return out
