-- bench/mint.lua: GET /generate_dynamic_page with a fresh client_id and
-- phone on every request (so per-phone limits never apply).
-- Script args: PHASE (one digit, keeps phones of different runs apart).
local n = 0
local phase = 1

function init(args)
  phase = tonumber(args[1]) or 1
end

function request()
  n = n + 1
  return wrk.format("GET", string.format(
    "/generate_dynamic_page?client_id=bench%d-%d-%d&telefono=5%d%d%010d" ..
    "&flow_name=bench_flow&fecha_cumple=1990-05-17", phase, tid, n, phase, tid % 10, n))
end
