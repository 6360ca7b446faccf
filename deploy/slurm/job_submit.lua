--[[
slurm_carbon job_submit plugin (slurm.conf: JobSubmitPlugins=lua; Slurm reads
job_submit.lua from the directory holding slurm.conf).

It accepts every job whose comment holds no control character and logs the
comment to slurmctld's log (control characters written as \xNN). A comment
with a control character (a newline, a tab, the unit separator 0x1f, an
escape, DEL) is refused on submit and on modify, with a one-line message
sbatch/scontrol show to the user: such bytes serve no purpose in a comment but
to forge fields or lines where Slurm's tools print it.

A later change parses "carbon_budget=<mass>" from the comment here and rejects a
bad value the same way (slurm.log_user + slurm.ERROR).
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

function slurm_job_submit(job_desc, part_list, submit_uid)
   slurm.log_info("slurm_carbon: submit uid=%s comment=%s",
                  tostring(submit_uid), describe(job_desc.comment))
   return refuse_control(job_desc.comment) or slurm.SUCCESS
end

function slurm_job_modify(job_desc, job_rec, part_list, modify_uid)
   slurm.log_info("slurm_carbon: modify job=%s uid=%s comment=%s",
                  tostring(job_rec.job_id), tostring(modify_uid), describe(job_desc.comment))
   return refuse_control(job_desc.comment) or slurm.SUCCESS
end

slurm.log_info("slurm_carbon: job_submit.lua loaded")
return slurm.SUCCESS
