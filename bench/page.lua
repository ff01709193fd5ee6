-- bench/page.lua: GET /<page_id>, cycling through the ids in FILE (one a
-- line); each thread starts at a different place in the list.
-- Script args: FILE
local reqs, i = {}, 0

function init(args)
  for line in io.lines(args[1]) do
    reqs[#reqs + 1] = wrk.format("GET", "/" .. line)
  end
  assert(#reqs > 0, "no page ids in " .. args[1])
  i = (tid * 7919) % #reqs
end

function request()
  i = i % #reqs + 1
  return reqs[i]
end
