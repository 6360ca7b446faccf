--[[
slurm_carbon job_submit plugin (slurm.conf: JobSubmitPlugins=lua; Slurm reads
job_submit.lua from the directory holding slurm.conf).

For now it accepts every job and logs its comment to slurmctld's log. A later
change parses "carbon_budget=<mass>" from the comment here and rejects a bad
value with a message sbatch shows to the user (slurm.log_user + slurm.ERROR).
--]]

local function describe(comment)
   if comment == nil then
      return "(none)"
   end
   return comment
end

function slurm_job_submit(job_desc, part_list, submit_uid)
   slurm.log_info("slurm_carbon: submit uid=%s comment=%s",
                  tostring(submit_uid), describe(job_desc.comment))
   return slurm.SUCCESS
end

function slurm_job_modify(job_desc, job_rec, part_list, modify_uid)
   slurm.log_info("slurm_carbon: modify job=%s uid=%s comment=%s",
                  tostring(job_rec.job_id), tostring(modify_uid), describe(job_desc.comment))
   return slurm.SUCCESS
end

slurm.log_info("slurm_carbon: job_submit.lua loaded")
return slurm.SUCCESS
