-- wrk script: unique form-encoded smart events (recordno and whenmodified move
-- with every request), the shape bench-ingest posts.
-- Usage: wrk -s post.lua http://127.0.0.1:PORT/v1/intacct/bench/events
local n = 0
local token = os.getenv("BENCH_TENANT_TOKEN") or "bench-token-0123456789abcdef"

local shown = false
function response(status, headers, body)
  if status ~= 202 and not shown then
    shown = true
    io.stderr:write("first non-202 answer: " .. status .. " " .. body .. "\n")
  end
end

function setup(thread)
  thread:set("base", math.random(1, 1000000) * 1000000)
end

request = function()
  n = n + 1
  local r = base + n
  local f = math.floor
  local when = string.format("06/%02d/2024 %02d:%02d:%02d", 1 + f(r / 86400) % 28,
                             f(r / 3600) % 24, f(r / 60) % 60, r % 60)
  local body = "object=CUSTOMER\naction=set\nrecordno=" .. r .. "\nwhenmodified=" .. when ..
               "\nCUSTOMERID=C" .. r .. "\nNAME=Bench customer"
  return wrk.format("POST", nil, {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/x-www-form-urlencoded",
  }, body)
end
