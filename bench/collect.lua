-- bench/collect.lua: mints like mint.lua and records each page_id from the
-- 200 responses, one a line, in PREFIX.<thread>. Each thread stops once it
-- has recorded its share of TOTAL; the last one ends the run.
-- Script args: PHASE PREFIX TOTAL THREADS
local n = 0
local phase, prefix, nthr, out, quota, got = 1, nil, 1, nil, 0, 0

function init(args)
  phase = tonumber(args[1]) or 1
  prefix = args[2]
  nthr = tonumber(args[4])
  quota = math.ceil(tonumber(args[3]) / nthr)
  out = assert(io.open(prefix .. "." .. tid, "w"))
end

function request()
  n = n + 1
  return wrk.format("GET", string.format(
    "/generate_dynamic_page?client_id=bench%d-%d-%d&telefono=5%d%d%010d" ..
    "&flow_name=bench_flow&fecha_cumple=1990-05-17", phase, tid, n, phase, tid % 10, n))
end

function response(status, headers, body)
  if status ~= 200 or got >= quota then
    return
  end
  local id = body:match('"page_id"%s*:%s*"([%w_%-]+)"')
  if id then
    out:write(id, "\n")
    got = got + 1
    if got % 256 == 0 or got == quota then
      out:flush()
    end
    if got == quota then
      finish_thread(prefix .. ".stop", nthr)
    end
  end
end
