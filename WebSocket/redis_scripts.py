"""The Lua scripts of the room's directory in Redis (`redis_directory.py`), and the keys they keep.

Each is one atomic step: it checks the caller's epoch, reaps the clients of dead processes, checks what
it expects, changes the room and publishes its events (JSON, one `events.py` dataclass each) on one
channel. ARGV[1] is always the caller's epoch; the other arguments are listed above each script.
"""

PREFIX = "chat:"
EPOCH = f"{PREFIX}epoch"  # "<run id>/<random>": the state below belongs to it
READY = f"{PREFIX}ready"  # Redis time (ms) from which the epoch may issue names
NAMES = f"{PREFIX}names"  # the counter behind "Client N"
CLIENTS = f"{PREFIX}clients"  # name -> "process since"
PARTNERS = f"{PREFIX}partners"  # name -> partner's name, both ways
PAGER = f"{PREFIX}pager"  # the pager's name
PROCESSES = f"{PREFIX}processes"  # process id -> deadline of its presence (Redis time, ms)
CHANNEL = f"{PREFIX}events"
LISTENER = f"{PREFIX}listener:"  # + process id: the name of a process's subscribed connection
STATE = (READY, NAMES, CLIENTS, PARTNERS, PAGER, PROCESSES)
LOST = "LOST"  # the error a script answers under another epoch than its caller's

# Every script but BEGIN starts with this: ARGV[1] is the caller's epoch.
DEFINITIONS = f"""
if redis.call('GET', '{EPOCH}') ~= ARGV[1] then return redis.error_reply('{LOST} the room has another epoch') end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local function emit(event)
  event.epoch = ARGV[1]
  redis.call('PUBLISH', '{CHANNEL}', cjson.encode(event))
end
local function unpage_unless(actor)
  local pager = redis.call('GET', '{PAGER}')
  if pager and pager ~= actor then
    redis.call('DEL', '{PAGER}')
    emit({{kind = 'unpaged', pager = pager}})
  end
end
local function part(name)
  if redis.call('HDEL', '{CLIENTS}', name) == 0 then return end
  local partner = redis.call('HGET', '{PARTNERS}', name)
  if partner then redis.call('HDEL', '{PARTNERS}', name, partner) else partner = '' end
  if redis.call('GET', '{PAGER}') == name then
    redis.call('DEL', '{PAGER}')
    emit({{kind = 'unpaged', pager = name}})
  end
  emit({{kind = 'left', name = name, partner = partner}})
end
local function reap()
  local dead = redis.call('ZRANGEBYSCORE', '{PROCESSES}', '-inf', '(' .. now)
  if #dead == 0 then return end
  local gone = {{}}
  for _, process in ipairs(dead) do
    gone[process] = true
    redis.call('ZREM', '{PROCESSES}', process)
  end
  local room = redis.call('HGETALL', '{CLIENTS}')
  for i = 1, #room, 2 do
    if gone[string.match(room[i + 1], '^%S+')] then part(room[i]) end
  end
end
"""
PRELUDE = f"""{DEFINITIONS}
reap()
"""

# ARGV: run id, a new epoch's random part, grace (ms). Joins the epoch of this Redis run, or starts one.
BEGIN = f"""
local epoch = redis.call('GET', '{EPOCH}')
if epoch and string.sub(epoch, 1, #ARGV[1] + 1) == ARGV[1] .. '/' then return epoch end
redis.call('DEL', '{"', '".join(STATE)}')
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
epoch = ARGV[1] .. '/' .. ARGV[2]
redis.call('SET', '{EPOCH}', epoch)
redis.call('SET', '{READY}', now + tonumber(ARGV[3]))
return epoch
"""
# ARGV: epoch, process, ttl (ms), "1" for the first beat. "reaped" if the process was taken for dead.
BEAT = f"""{PRELUDE}
if ARGV[4] ~= '1' and not redis.call('ZSCORE', '{PROCESSES}', ARGV[2]) then return 'reaped' end
redis.call('ZADD', '{PROCESSES}', now + tonumber(ARGV[3]), ARGV[2])
return 'ok'
"""
# ARGV: epoch, process, token, since. {"wait", ms} while the epoch may not name anyone yet.
JOIN = f"""{PRELUDE}
if not redis.call('ZSCORE', '{PROCESSES}', ARGV[2]) then return redis.error_reply('{LOST} this process was reaped') end
local ready = tonumber(redis.call('GET', '{READY}') or '0')
if now < ready then return {{'wait', ready - now}} end
local name = 'Client ' .. redis.call('INCR', '{NAMES}')
redis.call('HSET', '{CLIENTS}', name, ARGV[2] .. ' ' .. ARGV[4])
emit({{kind = 'joined', name = name, token = ARGV[3]}})
return {{'ok', name}}
"""
# ARGV: epoch, process ids whose processes no longer listen: they are dead, whatever their deadline.
BURY = f"""{DEFINITIONS}
for i = 2, #ARGV do
  if redis.call('ZSCORE', '{PROCESSES}', ARGV[i]) then redis.call('ZADD', '{PROCESSES}', 0, ARGV[i]) end
end
reap()
return 1
"""
# ARGV: epoch, process, name. Only the process that holds the name parts it.
PART = f"""{PRELUDE}
local holder = redis.call('HGET', '{CLIENTS}', ARGV[3])
if holder and string.match(holder, '^%S+') == ARGV[2] then part(ARGV[3]) end
return 1
"""
# ARGV: epoch, sender, line.
SAY = f"""{PRELUDE}
if redis.call('HEXISTS', '{CLIENTS}', ARGV[2]) == 0 then return 0 end
unpage_unless(ARGV[2])
emit({{kind = 'said', sender = ARGV[2], line = ARGV[3], to = redis.call('HGET', '{PARTNERS}', ARGV[2]) or ''}})
return 1
"""
# ARGV: epoch, inviter, invitee. {code, partner}: code "ok" or a refusal's.
INVITE = f"""{PRELUDE}
if redis.call('HEXISTS', '{CLIENTS}', ARGV[2]) == 0 then return {{'absent', ''}} end
unpage_unless(ARGV[2])
if redis.call('HEXISTS', '{CLIENTS}', ARGV[3]) == 0 then return {{'absent', ''}} end
if ARGV[2] == ARGV[3] then return {{'self', ''}} end
local mine = redis.call('HGET', '{PARTNERS}', ARGV[2])
if mine then return {{'busy_inviter', mine}} end
if redis.call('HEXISTS', '{PARTNERS}', ARGV[3]) == 1 then return {{'busy_invitee', ''}} end
redis.call('HSET', '{PARTNERS}', ARGV[2], ARGV[3], ARGV[3], ARGV[2])
emit({{kind = 'paired', a = ARGV[2], b = ARGV[3]}})
return {{'ok', ''}}
"""
# ARGV: epoch, name. 1 if it was in a private chat, which has ended.
LEAVE = f"""{PRELUDE}
if redis.call('HEXISTS', '{CLIENTS}', ARGV[2]) == 0 then return 0 end
unpage_unless(ARGV[2])
local partner = redis.call('HGET', '{PARTNERS}', ARGV[2])
if not partner then return 0 end
redis.call('HDEL', '{PARTNERS}', ARGV[2], partner)
emit({{kind = 'unpaired', a = ARGV[2], b = partner}})
return 1
"""
# ARGV: epoch, name.
PAGE = f"""{PRELUDE}
if redis.call('HEXISTS', '{CLIENTS}', ARGV[2]) == 0 then return 0 end
redis.call('SET', '{PAGER}', ARGV[2])
emit({{kind = 'paged', pager = ARGV[2]}})
return 1
"""
# ARGV: epoch, pager. 1 if it still pages and one page went out.
PAGING = f"""{PRELUDE}
if redis.call('GET', '{PAGER}') ~= ARGV[2] then return 0 end
emit({{kind = 'paging', pager = ARGV[2]}})
return 1
"""
# ARGV: epoch, text. How many clients the room has.
ANNOUNCE = f"""{PRELUDE}
emit({{kind = 'announced', text = ARGV[2]}})
return redis.call('HLEN', '{CLIENTS}')
"""
# ARGV: epoch. name, "process since", name, ...
ROSTER = f"""{PRELUDE}
return redis.call('HGETALL', '{CLIENTS}')
"""
# ARGV: epoch, process. The process leaves: its clients leave the room.
STOP = f"""{PRELUDE}
redis.call('ZREM', '{PROCESSES}', ARGV[2])
local room = redis.call('HGETALL', '{CLIENTS}')
for i = 1, #room, 2 do
  if string.match(room[i + 1], '^%S+') == ARGV[2] then part(room[i]) end
end
return 1
"""
