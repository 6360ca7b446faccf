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

And it checks the power-capping words, "carbon_profile=NAME" (NAME: 1 to 64
ASCII letters, digits, ".", "_", "-") and "carbon_cap=off" or "on", each at
most once, with the grammar and messages of
slurm_carbon/accounting/job_words.py (one table of cases runs against both).
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

local WORD_RULES = {
   {PROFILE_KEY, profile_name, PROFILE_EXAMPLE},
   {CAP_KEY, switch_value(CAP_KEY), switch_example(CAP_KEY)},
   {DEFER_KEY, defer_value, DEFER_EXAMPLE},
   {ADVICE_KEY, switch_value(ADVICE_KEY), switch_example(ADVICE_KEY)},
}

-- The words of a comment, {carbon_profile = name, carbon_cap = "on"|"off", carbon_defer =
-- seconds|"auto", carbon_advice = "on"|"off"}, or nil and the message.
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

local function check(comment)
   return refuse_control(comment) or refuse_budget(comment) or refuse_job_words(comment)
      or slurm.SUCCESS
end

function slurm_job_submit(job_desc, part_list, submit_uid)
   slurm.log_info("slurm_carbon: submit uid=%s comment=%s",
                  tostring(submit_uid), describe(job_desc.comment))
   return check(job_desc.comment)
end

function slurm_job_modify(job_desc, job_rec, part_list, modify_uid)
   slurm.log_info("slurm_carbon: modify job=%s uid=%s comment=%s",
                  tostring(job_rec.job_id), tostring(modify_uid), describe(job_desc.comment))
   return check(job_desc.comment)
end

slurm.log_info("slurm_carbon: job_submit.lua loaded")
return slurm.SUCCESS
