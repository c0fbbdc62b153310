-- Refresh-token rotation under wrk: every request presents the latest refresh token of one chain.
--
--   wrk -s refresh.lua URL -- TOKENS_IN TOKENS_OUT "Basic ..." NTHREADS
--
-- Each wrk thread takes its share of TOKENS_IN (one token a line, one chain each) as a queue. A request
-- pops a token; a 200 answer pushes the rotated token back. With at least as many chains as connections
-- a connection always finds one (wrk builds a connection's next request after reading its answer).
-- done() writes the tokens still held to TOKENS_OUT, so the next run continues those chains, and
-- prints the counts on a line starting with '@' for benchmarks/wrk.py.

local threads = {}
local count = 0

function setup(thread)
  count = count + 1
  thread:set("tid", count)
  table.insert(threads, thread)
end

function init(args)
  tokens_out = args[2]
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
  wrk.headers["Authorization"] = args[3]
  local nthreads = tonumber(args[4])
  queue = {}
  local i = 0
  for line in io.lines(args[1]) do
    if line ~= "" then
      if i % nthreads == tid - 1 then queue[#queue + 1] = line end
      i = i + 1
    end
  end
  taken, ok, failed, malformed, exhausted = #queue, 0, 0, 0, 0
end

function request()
  local token = table.remove(queue)
  if token == nil then
    exhausted = exhausted + 1
    token = "exhausted"
  end
  return wrk.format(nil, nil, nil, "grant_type=refresh_token&refresh_token=" .. token)
end

function response(status, headers, body)
  if status ~= 200 then
    failed = failed + 1
    return
  end
  local token = string.match(body, '"refresh_token"%s*:%s*"([^"]+)"')
  if token then
    ok = ok + 1
    queue[#queue + 1] = token
  else
    malformed = malformed + 1
  end
end

function done(summary, latency, requests)
  local sums = { taken = 0, ok = 0, failed = 0, malformed = 0, exhausted = 0, held = 0 }
  local out = nil
  for _, thread in ipairs(threads) do
    if out == nil then out = io.open(thread:get("tokens_out"), "w") end
    for _, name in ipairs({ "taken", "ok", "failed", "malformed", "exhausted" }) do
      sums[name] = sums[name] + thread:get(name)
    end
    for _, token in ipairs(thread:get("queue")) do
      out:write(token, "\n")
      sums.held = sums.held + 1
    end
  end
  if out ~= nil then out:close() end
  io.write(string.format("@refresh taken=%d ok=%d failed=%d malformed=%d exhausted=%d held=%d\n",
    sums.taken, sums.ok, sums.failed, sums.malformed, sums.exhausted, sums.held))
end
