--[[
slurm_carbon job_submit plugin (slurm.conf: JobSubmitPlugins=lua; Slurm reads
job_submit.lua from the directory holding slurm.conf).

It accepts every job whose comment holds no control character and logs the
comment to slurmctld's log (control characters written as \xNN). A comment
with a control character (a newline, a tab, the unit separator 0x1f, an
escape, DEL) is refused on submit and on modify, with a one-line message
sbatch/scontrol show to the user: such bytes serve no purpose in a comment but
to forge fields or lines where Slurm's tools print it.

It also checks the budget words of the comment, "carbon_budget=5kg" (units g,
kg, t; at most 1000 t CO2e) and "energy_budget=12kWh" (units Wh, kWh, MWh; at
most 10 GWh), and refuses a malformed, zero, negative, too large or repeated
one the same way. The grammar, bounds and messages are those of
slurm_carbon/accounting/budget.py (read its docstring): one table of cases runs
against both, so the service reads a budget exactly as this check accepted it.

And it checks the other words, "carbon_profile=NAME" (NAME: 1 to 64 ASCII
letters, digits, ".", "_", "-"), "carbon_cap=off" or "on", "carbon_defer=12h"
(a whole number of m, h, d; more than 0, at most 7 d) or "auto",
"carbon_advice=off" or "on", and "carbon_defer_resolved=<seconds>s", each at most
once, with the grammar and messages of slurm_carbon/accounting/job_words.py (one
table of cases runs against both). carbon_defer_resolved is this script's: on
submit it appends it to the comment of a carbon_defer=auto job (the delay auto meant,
from the advice file) and refuses a comment that already holds it.

On submit (not on modify) it gives advice from ADVICE_DIR/<partition>.advice,
the file the service rewrites every few minutes (slurm_carbon/forecast/advice.py):
one line when starting the job later within ADVICE_HINT_WITHIN_S would emit at
least the site's threshold less, for a job at least the site's hint_min_s long
("carbon_advice=off": none), and, for a comment
with carbon_defer, the job's begin time set to the cleanest start within the
delay (the user's own --begin is kept). A missing, stale or malformed file means
no advice; advice never refuses a job. See the README, "Submit-time advice".
--]]

-- Lua's %c: the ASCII control characters, bytes 0-31 and 127.
local CONTROL = "%c"

local function escaped(text)
   return (string.gsub(text, CONTROL, function(c)
      return string.format("\\x%02x", string.byte(c))
   end))
end

local function describe(comment)
   if comment == nil then
      return "(none)"
   end
   return escaped(comment)
end

-- Refuses (slurm.ERROR, after telling the user why) a comment with a control
-- character; nil when the comment is acceptable.
local function refuse_control(comment)
   if comment == nil then
      return nil
   end
   local at = string.find(comment, CONTROL)
   if at == nil then
      return nil
   end
   slurm.log_user("slurm_carbon: the comment holds a control character (byte 0x%02x at %d);"
                     .. " use printable text only", string.byte(comment, at), at)
   return slurm.ERROR
end

-- Words are separated by these bytes (the Python parser's _SEPARATORS).
local WORD = "[^ \t\n\v\f\r,;]+"

-- key, units (base units per unit, and their order in messages), example, limit.
local KINDS = {
   {key = "carbon_budget", units = {g = 1, kg = 1e3, t = 1e6}, unit_list = "g, kg, t",
    example = "carbon_budget=5kg", limit = 1e9, limit_text = "1000 t"},
   {key = "energy_budget", units = {Wh = 1, kWh = 1e3, MWh = 1e6}, unit_list = "Wh, kWh, MWh",
    example = "energy_budget=12kWh", limit = 1e10, limit_text = "10 GWh"},
}

local function bad(word, kind, reason)
   return string.format('bad budget "%s": %s; write e.g. %s (units %s; more than 0, at most %s)',
                        word, reason, kind.example, kind.unit_list, kind.limit_text)
end

-- The number at the start of text (sign, digits, decimals, exponent) and the rest.
local function split_number(text)
   local sign, int, rest = string.match(text, "^([+-]?)([0-9]*)(.*)$")
   local frac = ""
   if string.sub(rest, 1, 1) == "." then
      frac, rest = string.match(rest, "^(%.[0-9]*)(.*)$")
   end
   local exp, after = string.match(rest, "^([eE][+-]?[0-9]+)(.*)$")
   if exp == nil then
      exp, after = "", rest
   end
   return sign .. int .. frac .. exp, int .. frac, after
end

-- The budget one word gives in the kind's base unit (g, Wh), or nil and the message.
local function budget_value(word, kind)
   local prefix = kind.key .. "="
   if string.lower(string.sub(word, 1, #prefix)) ~= prefix then
      return nil, bad(word, kind, "not " .. kind.key .. "=<number><unit>")
   end
   local number, mantissa, unit = split_number(string.sub(word, #prefix + 1))
   if string.find(mantissa, "[0-9]") == nil then
      return nil, bad(word, kind, "no number")
   end
   if unit == "" then
      return nil, bad(word, kind, "no unit")
   end
   local factor = kind.units[unit]
   if factor == nil then
      return nil, bad(word, kind, 'unknown unit "' .. unit .. '"')
   end
   local value = tonumber(number) * factor
   if not (value > 0) then
      return nil, bad(word, kind, "not more than zero")
   end
   if not (value <= kind.limit) then
      return nil, bad(word, kind, "more than " .. kind.limit_text)
   end
   return value, nil
end

-- The budgets of a comment, {carbon_budget = g, energy_budget = Wh}, or nil and the message.
function slurm_carbon_budgets(comment)
   local found = {}
   for word in string.gmatch(comment or "", WORD) do
      local lowered = string.lower(word)
      for _, kind in ipairs(KINDS) do
         if string.sub(lowered, 1, #kind.key) == kind.key then
            local value, message = budget_value(word, kind)
            if value == nil then
               return nil, message
            end
            if found[kind.key] ~= nil then
               return nil, bad(word, kind, kind.key .. " given twice")
            end
            found[kind.key] = value
         end
      end
   end
   return found, nil
end

-- Refuses (slurm.ERROR, after telling the user why) a comment with a bad budget.
local function refuse_budget(comment)
   local budgets, message = slurm_carbon_budgets(comment)
   if budgets ~= nil then
      return nil
   end
   slurm.log_user("slurm_carbon: %s", message)
   return slurm.ERROR
end

-- The other words of a comment (slurm_carbon/accounting/job_words.py).
local PROFILE_KEY, CAP_KEY, MAX_PROFILE_NAME_CHARS = "carbon_profile", "carbon_cap", 64
local DEFER_KEY, ADVICE_KEY, DEFER_AUTO = "carbon_defer", "carbon_advice", "auto"
local RESOLVED_KEY = "carbon_defer_resolved"
-- The longest carbon_defer delay (7 days): a week holds every daily and weekly valley of a
-- grid's intensity; a job held longer is more likely forgotten than cleaner (MAX_DEFER_S).
local MAX_DEFER_S = 7 * 24 * 3600
local DEFER_UNIT_S = {m = 60, h = 3600, d = 86400}
local PROFILE_EXAMPLE = string.format(
   'write e.g. %s=resnet50-imagenet (letters, digits, ".", "_", "-"; at most %d characters)',
   PROFILE_KEY, MAX_PROFILE_NAME_CHARS)
local DEFER_EXAMPLE = string.format(
   "write e.g. %s=12h or %s=%s (a whole number of m, h or d; more than 0, at most %d d)",
   DEFER_KEY, DEFER_KEY, DEFER_AUTO, MAX_DEFER_S / 86400)

local RESOLVED_EXAMPLE = string.format(
   "write e.g. %s=43200s (a whole number of seconds; more than 0, at most %d;"
      .. " job_submit.lua writes it)", RESOLVED_KEY, MAX_DEFER_S)

local function switch_example(key)
   return "write e.g. " .. key .. "=off (off or on)"
end

local function ours(lowered, key)
   return lowered == key or string.sub(lowered, 1, #key + 1) == key .. "="
end

-- The name of a carbon_profile word, or nil and the message.
local function profile_name(word)
   local name = string.sub(word, #PROFILE_KEY + 2)
   local reason = nil
   if string.sub(word, #PROFILE_KEY + 1, #PROFILE_KEY + 1) ~= "=" then
      reason = "not " .. PROFILE_KEY .. "=<name>"
   elseif name == "" then
      reason = "no name"
   elseif string.find(name, "[^A-Za-z0-9._-]") ~= nil then
      reason = 'not only letters, digits, ".", "_", "-"'
   elseif #name > MAX_PROFILE_NAME_CHARS then
      reason = "more than " .. MAX_PROFILE_NAME_CHARS .. " characters"
   end
   if reason ~= nil then
      return nil, string.format('bad %s "%s": %s; %s', PROFILE_KEY, word, reason, PROFILE_EXAMPLE)
   end
   return name, nil
end

-- A reader of the "off" or "on" word of key (carbon_cap, carbon_advice): the value, or nil
-- and the message.
local function switch_value(key)
   return function(word)
      local value = string.lower(string.sub(word, #key + 2))
      if string.sub(word, #key + 1, #key + 1) ~= "=" or (value ~= "off" and value ~= "on") then
         return nil, string.format('bad %s "%s": not %s=off or on; %s', key, word, key,
                                   switch_example(key))
      end
      return value, nil
   end
end

-- The delay of a carbon_defer word in seconds, or "auto", or nil and the message.
local function defer_value(word)
   local given = string.sub(word, #DEFER_KEY + 1, #DEFER_KEY + 1) == "="
   local value = string.lower(string.sub(word, #DEFER_KEY + 2))
   if given and value == DEFER_AUTO then
      return DEFER_AUTO, nil
   end
   local number, unit = string.match(value, "^([0-9]*)(.*)$")
   local reason = nil
   if not given then
      reason = string.format("not %s=<number><unit> or %s=%s", DEFER_KEY, DEFER_KEY, DEFER_AUTO)
   elseif number == "" then
      reason = "no number"
   elseif unit == "" then
      reason = "no unit"
   elseif DEFER_UNIT_S[unit] == nil then
      reason = 'unknown unit "' .. unit .. '"'
   elseif tonumber(number) == 0 then
      reason = "not more than zero"
   elseif tonumber(number) * DEFER_UNIT_S[unit] > MAX_DEFER_S then
      reason = string.format("more than %d d", MAX_DEFER_S / 86400)
   end
   if reason ~= nil then
      return nil, string.format('bad %s "%s": %s; %s', DEFER_KEY, word, reason, DEFER_EXAMPLE)
   end
   return tonumber(number) * DEFER_UNIT_S[unit], nil
end

-- The delay of a carbon_defer_resolved word in seconds, or nil and the message.
local function resolved_value(word)
   local given = string.sub(word, #RESOLVED_KEY + 1, #RESOLVED_KEY + 1) == "="
   local number = string.match(string.lower(string.sub(word, #RESOLVED_KEY + 2)), "^([0-9]+)s$")
   local reason = nil
   if not given or number == nil then
      reason = string.format("not %s=<seconds>s", RESOLVED_KEY)
   elseif tonumber(number) == 0 then
      reason = "not more than zero"
   elseif tonumber(number) > MAX_DEFER_S then
      reason = string.format("more than %d s", MAX_DEFER_S)
   end
   if reason ~= nil then
      return nil, string.format('bad %s "%s": %s; %s', RESOLVED_KEY, word, reason,
                                RESOLVED_EXAMPLE)
   end
   return tonumber(number), nil
end

local WORD_RULES = {
   {PROFILE_KEY, profile_name, PROFILE_EXAMPLE},
   {CAP_KEY, switch_value(CAP_KEY), switch_example(CAP_KEY)},
   {DEFER_KEY, defer_value, DEFER_EXAMPLE},
   {ADVICE_KEY, switch_value(ADVICE_KEY), switch_example(ADVICE_KEY)},
   {RESOLVED_KEY, resolved_value, RESOLVED_EXAMPLE},
}

-- The words of a comment, {carbon_profile = name, carbon_cap = "on"|"off", carbon_defer =
-- seconds|"auto", carbon_advice = "on"|"off", carbon_defer_resolved = seconds}, or nil and
-- the message.
function slurm_carbon_job_words(comment)
   local found = {}
   for word in string.gmatch(comment or "", WORD) do
      local lowered = string.lower(word)
      for _, rule in ipairs(WORD_RULES) do
         local key, read, example = rule[1], rule[2], rule[3]
         if ours(lowered, key) then
            local value, message = read(word)
            if value == nil then
               return nil, message
            end
            if found[key] ~= nil then
               return nil, string.format('bad %s "%s": given twice; %s', key, word, example)
            end
            found[key] = value
         end
      end
   end
   return found, nil
end

-- Refuses (slurm.ERROR, after telling the user why) a comment with a bad word.
local function refuse_job_words(comment)
   local words, message = slurm_carbon_job_words(comment)
   if words ~= nil then
      return nil
   end
   slurm.log_user("slurm_carbon: %s", message)
   return slurm.ERROR
end

-- Submit-time advice (slurm_carbon/forecast/advice.py holds the Python side of the file
-- and of the computation; one table of cases runs against both).
--
-- The service writes one small file per partition, ADVICE_DIR/<partition>.advice; an install
-- whose site TOML sets another [advice] dir edits ADVICE_DIR here (deploy/local/cluster does).
-- Any problem with the file (missing, unreadable, too large, malformed, stale) means no hint
-- and no deferral, and the job is accepted as before.
ADVICE_DIR = "/var/lib/slurm-carbon/advice"
-- Largest file read (advice.py's ADVICE_MAX_BYTES): slurmctld reads it inline.
local ADVICE_MAX_BYTES = 8192
-- Most values in the series (ADVICE_MAX_POINTS): 48 h at 15 min.
local ADVICE_MAX_POINTS = 192
-- A file generated longer ago than this is stale (ADVICE_STALE_S: six missed rewrites).
local ADVICE_STALE_S = 1800
-- A file generated further ahead than this is from a clock set wrong (ADVICE_FUTURE_S).
local ADVICE_FUTURE_S = 300
-- Means closer than this are a tie: the earlier start wins (ADVICE_TIE_G_PER_KWH).
local ADVICE_TIE_G_PER_KWH = 1e-9
-- The hint looks this far ahead: a day holds the daily valley of every grid's intensity.
local ADVICE_HINT_WITHIN_S = 24 * 3600
-- The series' allowed steps (advice.py's ADVICE_STEPS_S): the stored forecasts' steps.
local ADVICE_STEPS_S = {[900] = true, [1800] = true, [3600] = true}
local ADVICE_CARRIED_SOURCE = "actual-carried"
local ADVICE_KEYS = {"version", "generated", "partition", "region", "source", "issued", "hint",
                     "threshold_pct", "defer_default_s", "step_s", "start", "ci"}
-- Keys a file may leave out (advice.py's _OPTIONAL), with what their absence means.
local ADVICE_OPTIONAL = {hint_min_s = "0"}
-- slurmctld's "no time limit given" and "unlimited" (slurm.NO_VAL, slurm.INFINITE in 22.05).
local NO_VAL, INFINITE = 4294967294, 4294967295

local function advice_int(text)
   if string.find(text, "^%d+$") == nil or #text > 12 then
      return nil
   end
   return tonumber(text)
end

local function advice_number(text)
   local int, frac = string.match(text, "^(%d+)(.*)$")
   if int == nil or #int > 9 or (frac ~= "" and string.find(frac, "^%.%d+$") == nil)
      or #frac > 10 then
      return nil
   end
   return tonumber(text)
end

local function advice_name(text)
   if string.find(text, "^[A-Za-z0-9_.:+-]+$") == nil or #text > 64 then
      return nil
   end
   return text
end

-- The key=value fields of the file's text, or nil (too large, not ASCII, a key repeated or
-- missing).
local function advice_fields(text)
   if #text > ADVICE_MAX_BYTES or string.find(text, "[\128-\255]") ~= nil then
      return nil
   end
   local wanted, fields, count = {}, {}, 0
   for _, key in ipairs(ADVICE_KEYS) do
      wanted[key] = true
   end
   for line in string.gmatch(text, "[^\n\r\v\f\28\29\30]+") do
      local key, value = string.match(line, "^([^=]*)=(.*)$")
      if key == nil then
         key = line
      end
      if wanted[key] or ADVICE_OPTIONAL[key] then
         if value == nil or fields[key] ~= nil then
            return nil
         end
         fields[key] = value
         if wanted[key] then
            count = count + 1
         end
      end
   end
   if count ~= #ADVICE_KEYS then
      return nil
   end
   for key, absent in pairs(ADVICE_OPTIONAL) do
      fields[key] = fields[key] or absent
   end
   return fields
end

-- The advice of the file's text read at now (epoch s), or nil when it counts as absent.
function slurm_carbon_parse_advice(text, now)
   local fields = advice_fields(text)
   if fields == nil or fields.version ~= "1" then
      return nil
   end
   local advice = {version = 1, ci = {}}
   for _, key in ipairs({"generated", "issued", "defer_default_s", "step_s", "start"}) do
      advice[key] = advice_int(fields[key])
   end
   advice.hint_min_s = advice_int(fields.hint_min_s)
   if advice.hint_min_s == nil then
      return nil
   end
   for _, key in ipairs({"partition", "region", "source"}) do
      advice[key] = advice_name(fields[key])
   end
   advice.threshold_pct = advice_number(fields.threshold_pct)
   advice.hint = ({on = true, off = false})[fields.hint]
   for value in string.gmatch(fields.ci .. ",", "([^,]*),") do
      table.insert(advice.ci, advice_number(value) or false)
   end
   for _, key in ipairs(ADVICE_KEYS) do
      if advice[key] == nil then
         return nil
      end
   end
   for _, value in ipairs(advice.ci) do
      if value == false then
         return nil
      end
   end
   if #advice.ci > ADVICE_MAX_POINTS or advice.threshold_pct > 100
      or advice.defer_default_s <= 0 or not ADVICE_STEPS_S[advice.step_s]
      or advice.start % advice.step_s ~= 0 or now - advice.generated > ADVICE_STALE_S
      or advice.generated - now > ADVICE_FUTURE_S then
      return nil
   end
   return advice
end

-- The advice file of a partition, or nil.
local function read_advice(partition, now)
   local file = io.open(ADVICE_DIR .. "/" .. partition .. ".advice", "rb")
   if file == nil then
      return nil
   end
   local text = file:read(ADVICE_MAX_BYTES + 1)
   file:close()
   return slurm_carbon_parse_advice(text or "", now)
end

-- The integral of the step series from its start to at (inside the series), from the sums
-- of whole steps before each step (sums[k + 1]: steps 1..k); a window's mean is a difference
-- of two, so each candidate costs the same whatever the job's length (the series' values are
-- at most 192 and whole numbers of seconds: the rounding stays far below the tie).
local function integral(series, sums, at)
   local k = math.floor((at - series.start) / series.step_s)
   if k >= #series.ci then
      return sums[#series.ci + 1]
   end
   return sums[k + 1] + series.ci[k + 1] * (at - series.start - k * series.step_s)
end

local function window_mean(series, sums, begin, length_s)
   return (integral(series, sums, begin + length_s) - integral(series, sums, begin)) / length_s
end

-- The cleanest start of a job of length_s seconds submitted at now, from now to
-- now + within_s, over series {start, step_s, ci} (advice.py's cleanest_start), and its
-- saving in percent; nil when the window starting now is not wholly inside the series.
function slurm_carbon_cleanest_start(series, now, length_s, within_s)
   local step_s = series.step_s
   local finish = series.start + #series.ci * step_s
   if now < series.start or now + length_s > finish then
      return nil
   end
   local sums = {0}
   for k, value in ipairs(series.ci) do
      sums[k + 1] = sums[k] + value * step_s
   end
   local mean_now = window_mean(series, sums, now, length_s)
   local best, mean_best = now, mean_now
   local candidate = series.start + (math.floor((now - series.start) / step_s) + 1) * step_s
   while candidate <= now + within_s and candidate + length_s <= finish do
      local mean = window_mean(series, sums, candidate, length_s)
      if mean < mean_best - ADVICE_TIE_G_PER_KWH then
         best, mean_best = candidate, mean
      end
      candidate = candidate + step_s
   end
   if mean_now <= 0 then
      return best, 0.0
   end
   return best, 100.0 * (1.0 - mean_best / mean_now)
end

-- The partition the job runs in: the one it names, or the default one of part_list (the
-- partitions the user may use; 22.05 leaves job_desc.partition nil when none is given);
-- nil for a list of partitions (where it runs is not known at submit).
local function job_partition(job_desc, part_list)
   local named = job_desc.partition
   if named ~= nil then
      if string.find(named, ",") ~= nil or advice_name(named) == nil then
         return nil
      end
      return named
   end
   for name, part in pairs(part_list or {}) do
      if part.flag_default == 1 then
         return advice_name(tostring(name))
      end
   end
   return nil
end

-- The job's time limit in seconds, or nil when it has none (not given, or unlimited).
local function job_length_s(job_desc)
   local minutes = job_desc.time_limit
   if minutes == nil or minutes == NO_VAL or minutes == INFINITE or minutes == 0 then
      return nil
   end
   return minutes * 60
end

-- A time the user reads: HH:MM within a day of now (the next such time), else the date too.
local function clock(at, now)
   if math.abs(at - now) < 24 * 3600 then
      return os.date("%H:%M", at)
   end
   return os.date("%Y-%m-%d %H:%M", at)
end

local function length_words(length_s)
   if length_s % 3600 == 0 then
      return string.format("%d h", length_s / 3600)
   end
   return string.format("%d min", length_s / 60)
end

local function forecast_words(advice, now)
   if advice.source == ADVICE_CARRIED_SOURCE then
      return "no forecast; the last value held"
   end
   return string.format("forecast %s issued %s", advice.source, clock(advice.issued, now))
end

-- The one line of the hint, or nil: the job is at least the site's hint_min_s long and the
-- cleanest start within ADVICE_HINT_WITHIN_S saves at least the site's threshold.
local function hint_line(advice, partition, length_s, now)
   if not advice.hint or length_s < advice.hint_min_s then
      return nil
   end
   local best, saving = slurm_carbon_cleanest_start(advice, now, length_s, ADVICE_HINT_WITHIN_S)
   if best == nil or best == now or saving < advice.threshold_pct then
      return nil
   end
   return string.format(
      "carbon: starting at %s would emit ~%.0f %% less for a %s job on %s;"
         .. " add --begin=%s (or --comment %s=%dh)",
      clock(best, now), saving, length_words(length_s), partition,
      os.date("%Y-%m-%dT%H:%M:%S", best), DEFER_KEY, math.ceil((best - now) / 3600))
end

-- Sets the job's begin time to the cleanest start within its carbon_defer delay; the one
-- line telling the user what was done.
local function defer_line(job_desc, advice, partition, length_s, delay, now)
   if advice == nil then
      return string.format("carbon: not deferred: no carbon advice for partition %s",
                           partition or "(several or unknown)")
   end
   if delay == DEFER_AUTO then
      delay = math.min(advice.defer_default_s, MAX_DEFER_S)
      -- The service stores the delay auto meant, read from this word of the comment: the
      -- comment is what it reads of every job, pending to ended (sacct's Comment);
      -- AdminComment is where it writes its result; 22.05's sacct shows no Extra and this
      -- script cannot set SystemComment; and the begin time alone does not say the delay
      -- (the cleanest start is often well before its end).
      job_desc.comment = string.format("%s %s=%ds", job_desc.comment, RESOLVED_KEY, delay)
   end
   if length_s == nil then
      return "carbon: not deferred: the job has no time limit (give one with -t)"
   end
   local best, saving = slurm_carbon_cleanest_start(advice, now, length_s, delay)
   if best == nil then
      return string.format("carbon: not deferred: the forecast does not cover a %s job",
                           length_words(length_s))
   end
   if best == now then
      return string.format("carbon: not deferred: now is the cleanest start within %s (%s)",
                           length_words(delay - delay % 60), forecast_words(advice, now))
   end
   job_desc.begin_time = best
   return string.format("carbon: deferred to %s (~%.0f %% less than now, %s)",
                        clock(best, now), saving, forecast_words(advice, now))
end

-- The hint or the deferral of a job being submitted (its words already checked).
local function advise(job_desc, part_list)
   local words = slurm_carbon_job_words(job_desc.comment)
   local delay = words[DEFER_KEY]
   if delay == nil and words[ADVICE_KEY] == "off" then
      return
   end
   if delay ~= nil and job_desc.begin_time ~= nil and job_desc.begin_time ~= 0 then
      slurm.log_user("carbon: not deferred: the job's own --begin is kept")
      return
   end
   local now = os.time()
   local partition = job_partition(job_desc, part_list)
   local advice = nil
   if partition ~= nil then
      advice = read_advice(partition, now)
   end
   local length_s = job_length_s(job_desc)
   local line
   if delay ~= nil then
      line = defer_line(job_desc, advice, partition, length_s, delay, now)
   elseif advice ~= nil and length_s ~= nil then
      line = hint_line(advice, partition, length_s, now)
   end
   if line ~= nil then
      slurm.log_user("%s", escaped(line))
   end
end

-- Refuses (slurm.ERROR, after telling the user why), on submit, a comment holding
-- carbon_defer_resolved: the word is this script's (see defer_line).
local function refuse_resolved(comment)
   if slurm_carbon_job_words(comment)[RESOLVED_KEY] == nil then
      return slurm.SUCCESS
   end
   slurm.log_user("slurm_carbon: %s is written by slurm_carbon on submit;"
                     .. " leave it out of the comment", RESOLVED_KEY)
   return slurm.ERROR
end

local function check(comment)
   return refuse_control(comment) or refuse_budget(comment) or refuse_job_words(comment)
      or slurm.SUCCESS
end

function slurm_job_submit(job_desc, part_list, submit_uid)
   slurm.log_info("slurm_carbon: submit uid=%s comment=%s",
                  tostring(submit_uid), describe(job_desc.comment))
   local status = check(job_desc.comment)
   if status == slurm.SUCCESS then
      status = refuse_resolved(job_desc.comment)
   end
   if status == slurm.SUCCESS then
      -- Advice never refuses a job: an error in it is logged and the job accepted.
      local ok, failure = pcall(advise, job_desc, part_list)
      if not ok then
         slurm.log_info("slurm_carbon: no advice: %s", escaped(tostring(failure)))
      end
   end
   return status
end

function slurm_job_modify(job_desc, job_rec, part_list, modify_uid)
   slurm.log_info("slurm_carbon: modify job=%s uid=%s comment=%s",
                  tostring(job_rec.job_id), tostring(modify_uid), describe(job_desc.comment))
   return check(job_desc.comment)
end

slurm.log_info("slurm_carbon: job_submit.lua loaded")
return slurm.SUCCESS
