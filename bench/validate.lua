-- bench/validate.lua: POST /validate_answer (respuesta=none) once for each
-- page id in FILE; thread k of THREADS takes every THREADS-th line, so no id
-- is used twice. A thread that has sent all its ids stops; the last one ends
-- the run (a thread may still send a few GET /healthz after its last id).
-- Script args: FILE THREADS STOP-PREFIX
local reqs, i, nthr, stop_prefix = {}, 0, 1, nil
local hdr = { ["Content-Type"] = "application/x-www-form-urlencoded" }

function init(args)
  local k = 0
  nthr, stop_prefix = tonumber(args[2]), args[3]
  for line in io.lines(args[1]) do
    if k % nthr == tid - 1 then
      reqs[#reqs + 1] = wrk.format("POST", "/validate_answer", hdr,
                                   "page_id=" .. line .. "&respuesta=none")
    end
    k = k + 1
  end
end

function request()
  i = i + 1
  if i > #reqs then
    finish_thread(stop_prefix, nthr)
    return wrk.format("GET", "/healthz")
  end
  return reqs[i]
end
