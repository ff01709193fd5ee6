/*
 * store_redis_lua: the Lua scripts of the Redis store (see store_redis_lua.h).
 * Record fields: st status, cm/em/dm minted/expires/decided (ms, the
 * minting or deciding node's wall clock: timestamps only), ed the expiry on
 * Redis's clock (TIME; what every script enforces), lg lang,
 * q the packed question, x the answer key and xm which form of the answer it
 * compares (raw, date or sum), ci client id, ph phone, fl flow, nd the
 * minting node, pk the phone's limiter key, mt the put's token, tk the
 * deciding request's token, lr whether the answer reached the lockout.
 */
#include "store_redis_lua.h"
#include "limiter_redis.h"

#define RS_STR_(x) #x
#define RS_STR(x) RS_STR_(x)

/* Redis's clock in ms (NOW), which every node shares, and a record's expiry
 * on it (due: ed, or em for a record an older version wrote). */
#define RS_LUA_CLOCK \
	"local function NOW() local t=redis.call('TIME') return tonumber(t[1])*1000+math.floor(tonumber(t[2])/1000) end\n" \
	"local function due(ed,em) return tonumber(ed or em) end\n"

/* Lua shared by the scripts. R(k) reads a record in the order rs_parse takes,
 * its last field the ms left until its expiry (<= 0: due). decide() keeps
 * the tombstone ttl ms. */
#define RS_LUA_COMMON RS_LUA_CLOCK \
	"local F={'st','cm','em','dm','lg','q','ci','ph','fl','ed'}\n" \
	"local function R(k) local r=redis.call('HMGET',k,unpack(F))\n" \
	"  if r[1] then r[10]=due(r[10],r[3])-NOW() end return r end\n" \
	"local function wipe(q) return string.sub(q,1,4)..string.rep('\\0',#q-4) end\n" \
	"local function decide(k,id,st,when,ttl)\n" \
	"  local f=redis.call('HMGET',k,'q','nd','pk')\n" \
	"  redis.call('HSET',k,'st',st,'dm',when,'q',wipe(f[1]))\n" \
	"  redis.call('HDEL',k,'x','xm')\n" \
	"  redis.call('PEXPIRE',k,ttl)\n" \
	"  redis.call('ZREM','mnmfa:x:'..f[2],id)\n" \
	"  redis.call('SREM','mnmfa:p:'..f[3],id)\n" \
	"end\n" \
	"local function phone_add(p,id,until_ms)\n" \
	"  redis.call('SADD',p,id)\n" \
	"  if redis.call('PEXPIRETIME',p)<until_ms then redis.call('PEXPIREAT',p,until_ms) end\n" \
	"end\n" \
	"local function pend_again(k,id,ed,nd,pk,ttl)\n" \
	"  local until_ms=tonumber(ed)+tonumber(ttl)\n" \
	"  redis.call('PEXPIREAT',k,until_ms)\n" \
	"  redis.call('ZADD','mnmfa:x:'..nd,ed,id)\n" \
	"  phone_add('mnmfa:p:'..pk,id,until_ms)\n" \
	"end\n"

/* Before a decision: what undoing it takes (the question, the answer key)
 * under mnmfa:u:<id> with the deciding request's token, for RS_UNDO_MS at
 * most and never past the page's expiry (left ms away). */
#define RS_LUA_KEEP_UNDO \
	"local function keep_undo(k,id,tk,left)\n" \
	"  local f=redis.call('HMGET',k,'q','x','xm')\n" \
	"  local u='mnmfa:u:'..id\n" \
	"  redis.call('HSET',u,'tk',tk,'q',f[1] or '','x',f[2] or '','xm',f[3] or '0')\n" \
	"  redis.call('PEXPIRE',u,math.min(left," RS_STR(RS_UNDO_MS) "))\n" \
	"end\n" \
	"local function own(k,id,tk,st)\n" \
	"  redis.call('HSET',k,'tk',tk)\n" \
	"  local u=redis.call('HMGET','mnmfa:u:'..id,'tk','q')\n" \
	"  local qb=u[1]==tk and u[2] or ''\n" \
	"  return {0,st=='5' and 1 or 0,tonumber(redis.call('HGET',k,'lr') or '0'),qb,unpack(R(k))}\n" \
	"end\n"

/* KEYS: record, node set, phone set. ARGV: id max_pending cm em lg q x xm ci
 * ph fl node phone ttl token life (ms until the expiry, from now on Redis's
 * clock). 0 stored, 1 full, 2 the id exists. */
static const char rs_lua_put[] = RS_LUA_COMMON
	"local mt=redis.call('HGET',KEYS[1],'mt')\n"
	"if mt then if mt==ARGV[15] then return 0 end return 2 end\n"
	"if redis.call('ZCARD',KEYS[2])>=tonumber(ARGV[2]) then return 1 end\n"
	"redis.call('HSET',KEYS[1],'st','0','cm',ARGV[3],'em',ARGV[4],'dm','0','lg',ARGV[5],'q',ARGV[6],"
	"'x',ARGV[7],'xm',ARGV[8],'ci',ARGV[9],'ph',ARGV[10],'fl',ARGV[11],'nd',ARGV[12],'pk',ARGV[13],"
	"'mt',ARGV[15])\n"
	"local ed=NOW()+tonumber(ARGV[16])\n"
	"local until_ms=ed+tonumber(ARGV[14])\n"
	"redis.call('HSET',KEYS[1],'ed',ed)\n"
	"redis.call('PEXPIREAT',KEYS[1],until_ms)\n"
	"redis.call('ZADD',KEYS[2],ed,ARGV[1])\n"
	"phone_add(KEYS[3],ARGV[1],until_ms)\n"
	"return 0\n";

/* KEYS: record. The record as R reads it (a page's read). */
static const char rs_lua_get[] = RS_LUA_COMMON
	"return R(KEYS[1])\n";

/* KEYS: record. ARGV: id now (the wall clock's, for dm) ttl token raw date
 * sum status ('' = check the answer). Returns {code, record...}: 0 decided
 * now (or earlier by this token), 1 unknown, 2 expired, 3 already decided. */
static const char rs_lua_take[] = RS_LUA_COMMON RS_LUA_KEEP_UNDO
	"local k=KEYS[1]\n"
	"local h=redis.call('HMGET',k,'st','em','xm','x','tk','ed')\n"
	"if not h[1] then return {1} end\n"
	"if h[1]=='3' then return {2,unpack(R(k))} end\n"
	"if h[1]~='0' then\n"
	"  if h[5]==ARGV[4] then redis.call('HSET',k,'tk',ARGV[4]) return {0,unpack(R(k))} end\n"
	"  return {3,unpack(R(k))}\n"
	"end\n"
	"local left=due(h[6],h[2])-NOW()\n"
	"if left<=0 then return {2,unpack(R(k))} end\n"
	"local st=ARGV[8]\n"
	"if st=='' then\n"
	"  local cand=ARGV[5+tonumber(h[3])]\n"
	"  if cand~='' and cand==h[4] then st='1' else st='2' end\n"
	"end\n"
	"keep_undo(k,ARGV[1],ARGV[4],left)\n"
	"decide(k,ARGV[1],st,ARGV[2],ARGV[3])\n"
	"redis.call('HSET',k,'tk',ARGV[4])\n"
	"return {0,unpack(R(k))}\n";

/* store_answer in one step. KEYS: record. ARGV: id now (wall) ttl token raw date
 * sum lockout-prefix lockout-n lockout-window-ms. The lockout's events are
 * <prefix><the record's phone key>, counted as the Redis limiter does
 * (LIMITER_REDIS_LUA). Returns
 * {code, locked, reached, question before, record...}; codes as take. A
 * retry that finds its own decision (same token) gets the question before
 * from mnmfa:u:<id> (kept with that token), so a page whose evidence then
 * fails can still be reopened with its question. A token that store_settle
 * fenced (mnmfa:f:<token>: its answer was found undecided) decides nothing:
 * a late run of that answer is refused. */
static const char rs_lua_answer[] = RS_LUA_COMMON RS_LUA_KEEP_UNDO LIMITER_REDIS_LUA
	"local k=KEYS[1]\n"
	"if redis.call('EXISTS','mnmfa:f:'..ARGV[4])==1 then return {1} end\n"
	"local h=redis.call('HMGET',k,'st','em','xm','x','tk','pk','q','ed')\n"
	"if not h[1] then return {1} end\n"
	"if h[1]=='3' then return {2,0,0,'',unpack(R(k))} end\n"
	"if h[1]~='0' then\n"
	"  if h[5]==ARGV[4] then return own(k,ARGV[1],ARGV[4],h[1]) end\n"
	"  return {3,0,0,'',unpack(R(k))}\n"
	"end\n"
	"local left=due(h[8],h[2])-NOW()\n"
	"if left<=0 then return {2,0,0,'',unpack(R(k))} end\n"
	"local lk=ARGV[8]..h[6]\n"
	"local n=tonumber(ARGV[9])\n"
	"local st,locked,reached\n"
	"lr_old(lk,n)\n"
	"if lr_locked(lk)>0 then st='5' locked=1 reached=0\n"
	"else\n"
	"  locked=0 reached=0\n"
	"  local cand=ARGV[5+tonumber(h[3])]\n"
	"  if cand~='' and cand==h[4] then st='1' else\n"
	"    st='2'\n"
	"    local _,r=lr_hit(lk,n,tonumber(ARGV[10])) reached=r\n"
	"  end\n"
	"end\n"
	"keep_undo(k,ARGV[1],ARGV[4],left)\n"
	"decide(k,ARGV[1],st,ARGV[2],ARGV[3])\n"
	"redis.call('HSET',k,'tk',ARGV[4],'lr',reached)\n"
	"return {0,locked,reached,h[7],unpack(R(k))}\n";

/* Settles an answer the node answered 503 for (its reply was lost, or no
 * replica confirmed it): decided by that token, it is the node's to write
 * the evidence of (the same reply as the answer's; a write, so the WAIT
 * after it covers the decision too); else the token is fenced for
 * RS_UNDO_MS so a late run of that answer decides nothing. KEYS: record.
 * ARGV: id token. */
static const char rs_lua_settle[] = RS_LUA_COMMON RS_LUA_KEEP_UNDO
	"local k=KEYS[1]\n"
	"local h=redis.call('HMGET',k,'st','tk')\n"
	"if h[1] and h[1]~='0' and h[1]~='3' and h[2]==ARGV[2] then return own(k,ARGV[1],ARGV[2],h[1]) end\n"
	"redis.call('SET','mnmfa:f:'..ARGV[2],'1','PX'," RS_STR(RS_UNDO_MS) ")\n"
	"return {1}\n";

/* Undoes a decision whose reply the node never got (it answered 503): only
 * the request that made it (its token) can, while mnmfa:u:<id> lasts; the
 * page is pending again (an overdue one is then expired by its node's
 * sweep). KEYS: record. ARGV: id token ttl. 0 undone, 1 nothing to undo. */
static const char rs_lua_undo[] = RS_LUA_COMMON
	"local k=KEYS[1]\n"
	"local u='mnmfa:u:'..ARGV[1]\n"
	"local v=redis.call('HMGET',u,'tk','q','x','xm')\n"
	"if v[1]~=ARGV[2] then return 1 end\n"
	"redis.call('DEL',u)\n"
	"local h=redis.call('HMGET',k,'st','em','nd','pk','tk','ed')\n"
	"if not h[1] or h[1]=='0' or h[1]=='3' or h[5]~=ARGV[2] then return 1 end\n"
	"redis.call('HSET',k,'st','0','dm','0','q',v[2],'x',v[3],'xm',v[4])\n"
	"redis.call('HDEL',k,'tk','lr')\n"
	"pend_again(k,ARGV[1],due(h[6],h[2]),h[3],h[4],ARGV[3])\n"
	"return 0\n";

/* KEYS: record. ARGV: id q x xm ttl. 0 reopened, 1 not (not decided, or
 * past its expiry). */
static const char rs_lua_reopen[] = RS_LUA_COMMON
	"local k=KEYS[1]\n"
	"local h=redis.call('HMGET',k,'st','em','nd','pk','ed')\n"
	"if not h[1] then return 1 end\n"
	"local ed=due(h[5],h[2])\n"
	"if (h[1]~='1' and h[1]~='2' and h[1]~='5') or NOW()>=ed then return 1 end\n"
	"redis.call('HSET',k,'st','0','dm','0','q',ARGV[2],'x',ARGV[3],'xm',ARGV[4])\n"
	"redis.call('HDEL',k,'tk','lr')\n"
	"pend_again(k,ARGV[1],ed,h[3],h[4],ARGV[5])\n"
	"return 0\n";

/* A mint whose `minted` row never became durable (the bot was told 503):
 * the record goes as if never put, from the node's and the phone's sets too,
 * while still pending (nobody else has its link). KEYS: record. ARGV: id.
 * 0 withdrawn, 1 not. */
static const char rs_lua_withdraw[] =
	"local k=KEYS[1]\n"
	"local h=redis.call('HMGET',k,'st','nd','pk')\n"
	"if h[1]~='0' then return 1 end\n"
	"redis.call('DEL',k,'mnmfa:u:'..ARGV[1])\n"
	"redis.call('ZREM','mnmfa:x:'..h[2],ARGV[1])\n"
	"redis.call('SREM','mnmfa:p:'..h[3],ARGV[1])\n"
	"return 0\n";

/* KEYS: node set, the node's last sweep result. ARGV: batch ttl seq ack.
 * What is due is what Redis's clock says. seq grows with every sweep call
 * of the node; ack is the seq of the last reply the node received. The
 * result (the ids that expired) is kept under seq until acknowledged: a repeat of the same seq (a retry after a
 * lost connection) gets the same result, a later call gets an unacknowledged
 * one again, and a late-running older call does nothing, so each expiry
 * reaches the node once even when Redis ran a sweep whose reply was lost.
 * Returns {left, taken, (id, record...) per challenge that expired}. */
static const char rs_lua_sweep[] = RS_LUA_COMMON
	"local seq=tonumber(ARGV[3])\n"
	"local last=redis.call('HMGET',KEYS[2],'sq','ids','n')\n"
	"local function out_of(ids,taken)\n"
	"  local out={redis.call('ZCARD',KEYS[1]),taken}\n"
	"  for _,id in ipairs(ids) do\n"
	"    table.insert(out,id)\n"
	"    for _,v in ipairs(R('mnmfa:c:'..id)) do table.insert(out,v or false) end\n"
	"  end\n"
	"  return out\n"
	"end\n"
	"local function split(s) local t={} for id in string.gmatch(s or '','[^,]+') do table.insert(t,id) end return t end\n"
	"if last[1] then\n"
	"  local ls=tonumber(last[1])\n"
	"  if ls==seq then return out_of(split(last[2]),tonumber(last[3])) end\n"
	"  if ls>seq then return {redis.call('ZCARD',KEYS[1]),0} end\n"
	"end\n"
	"local expired={}\n"
	"if last[1] and tonumber(last[1])>tonumber(ARGV[4]) then expired=split(last[2]) end\n"
	"local ids=redis.call('ZRANGEBYSCORE',KEYS[1],'-inf',NOW(),'LIMIT',0,tonumber(ARGV[1]))\n"
	"for _,id in ipairs(ids) do\n"
	"  redis.call('ZREM',KEYS[1],id)\n"
	"  local k='mnmfa:c:'..id\n"
	"  local h=redis.call('HMGET',k,'st','em')\n"
	"  if h[1]=='0' then\n"
	"    decide(k,id,'3',h[2],ARGV[2])\n"
	"    table.insert(expired,id)\n"
	"  end\n"
	"end\n"
	"redis.call('HSET',KEYS[2],'sq',ARGV[3],'ids',table.concat(expired,','),'n',#ids)\n"
	"redis.call('PEXPIRE',KEYS[2],ARGV[2])\n"
	"return out_of(expired,#ids)\n";

/* KEYS: the node's last sweep result. ARGV: the seq the node received last.
 * Forgets that result once received (at a stop, so a restart does not get
 * it again). */
static const char rs_lua_sweep_ack[] =
	"if redis.call('HGET',KEYS[1],'sq')==ARGV[1] then redis.call('DEL',KEYS[1]) end\n"
	"return 0\n";

/* store_lock_phone. KEYS: the phone's set of pending ids, this call's result
 * (mnmfa:pl:<token>). ARGV: now (wall, for dm) ttl token. Every pending,
 * unexpired (on Redis's clock) challenge in the set ends as locked, as a
 * decision by this token, whichever node minted it; overdue ones are left to
 * their node's sweep. Never undone. The ids are kept under the result key
 * (with '' for "this call ran", even when it locked none) for ttl, as long as
 * the tombstones, so a repeat of the call (a retry, or the settle of a
 * lost reply) reports the same challenges again and locks nothing more.
 * Returns {(id, record...) per challenge locked}. */
static const char rs_lua_lock_phone[] = RS_LUA_COMMON
	"local ids=redis.call('SMEMBERS',KEYS[2])\n"
	"if #ids==0 then\n"
	"  for _,id in ipairs(redis.call('SMEMBERS',KEYS[1])) do\n"
	"    local k='mnmfa:c:'..id\n"
	"    local h=redis.call('HMGET',k,'st','em','ed')\n"
	"    local left=h[1] and due(h[3],h[2])-NOW()\n"
	"    if h[1]=='0' and left>0 then\n"
	"      decide(k,id,'5',ARGV[1],ARGV[2])\n"
	"      redis.call('HSET',k,'tk',ARGV[3])\n"
	"      redis.call('SADD',KEYS[2],id)\n"
	"      table.insert(ids,id)\n"
	"    elseif not h[1] then redis.call('SREM',KEYS[1],id) end\n"
	"  end\n"
	"  redis.call('SADD',KEYS[2],'')\n"
	"  redis.call('PEXPIRE',KEYS[2],ARGV[2])\n"
	"end\n"
	"local out={}\n"
	"for _,id in ipairs(ids) do\n"
	"  if id~='' then\n"
	"    table.insert(out,id)\n"
	"    for _,v in ipairs(R('mnmfa:c:'..id)) do table.insert(out,v or false) end\n"
	"  end\n"
	"end\n"
	"return out\n";

const struct rs_script_src store_redis_scripts[RS_NSCRIPTS] = {
	[RS_PUT] = { "put", rs_lua_put },
	[RS_GET] = { "get", rs_lua_get },
	[RS_TAKE] = { "take", rs_lua_take },
	[RS_ANSWER] = { "answer", rs_lua_answer },
	[RS_UNDO] = { "undo", rs_lua_undo },
	[RS_REOPEN] = { "reopen", rs_lua_reopen },
	[RS_SWEEP] = { "sweep", rs_lua_sweep },
	[RS_SWEEP_ACK] = { "sweep_ack", rs_lua_sweep_ack },
	[RS_LOCK_PHONE] = { "lock_phone", rs_lua_lock_phone },
	[RS_WITHDRAW] = { "withdraw", rs_lua_withdraw },
	[RS_SETTLE] = { "settle", rs_lua_settle },
};
