-- bench/common.lua: prepended by bench/run to every wrk script.
-- Numbers the wrk threads (global `tid`, 1..N, set by setup() in each
-- thread's Lua state), lets threads end the run early (finish_thread) and
-- prints one machine-readable summary line.
local has_ffi, ffi = pcall(require, "ffi")
if has_ffi then
  ffi.cdef [[
  int getpid(void);
  int kill(int pid, int sig);
  ]]
end

tid = 1
local nthreads = 0

function setup(thread)
  nthreads = nthreads + 1
  thread:set("tid", nthreads)
end

-- Ends this thread now; the last of NTHREADS threads to get here ends the
-- run: SIGINT interrupts wrk's main thread, which otherwise sleeps for the
-- whole -d duration (without LuaJIT's ffi the run lasts the full -d and the
-- rates come out low). Each thread leaves a file PREFIX.<tid> to count.
local finished = false
function finish_thread(prefix, n)
  if finished then
    return
  end
  finished = true
  wrk.thread:stop()
  local f = io.open(prefix .. "." .. tid, "w")
  if f then
    f:close()
  end
  for k = 1, n do
    local g = io.open(prefix .. "." .. k, "r")
    if not g then
      return
    end
    g:close()
  end
  if has_ffi then
    ffi.C.kill(ffi.C.getpid(), 2)
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  local f = math.floor
  io.write(string.format(
    "WRKRESULT requests=%d duration_us=%d p50_us=%d p99_us=%d max_us=%d " ..
    "connect=%d read=%d write=%d timeout=%d status=%d\n",
    summary.requests, summary.duration, f(latency:percentile(50)), f(latency:percentile(99)),
    f(latency.max), e.connect, e.read, e.write, e.timeout, e.status))
end
