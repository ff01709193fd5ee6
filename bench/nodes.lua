-- bench/nodes.lua: put by bench/redis between common.lua and a run's script.
-- Sends wrk thread k to the k-th port of BENCH_NODE_PORTS (ports on
-- 127.0.0.1, separated by spaces, reused in turn when there are more threads),
-- so that one wrk drives several nodes at once and reports one latency
-- distribution over all of them.
local ports = {}
for p in (os.getenv("BENCH_NODE_PORTS") or ""):gmatch("%d+") do
  ports[#ports + 1] = p
end
local common_setup = setup
local next_port = 0

function setup(thread)
  common_setup(thread)
  if #ports > 0 then
    thread.addr = wrk.lookup("127.0.0.1", ports[next_port % #ports + 1])[1]
    next_port = next_port + 1
  end
end
