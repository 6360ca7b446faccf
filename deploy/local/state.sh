# shellcheck shell=bash
# Sourced by deploy/local/{cluster,postgres} and scripts/demo: where a clone's local
# servers keep their state.
#
# As root the state lives outside the clone, in
# /var/lib/slurm-carbon-dev/<clone's directory name>-<12 hex of the SHA-256 of its real path>:
# the servers run as other users (PostgreSQL as `postgres`), and a clone may sit
# where only root can search (/root is mode 700). Each clone gets its own directory,
# so two clones never share a server. Otherwise (a developer's own account, where the
# servers run as that user) it is <clone>/.local. SLURM_CARBON_LOCAL overrides both.

# The root of all state directories, one per clone (as root).
DEV_STATE_ROOT=/var/lib/slurm-carbon-dev

# Prints the state directory of the clone at $1.
local_state_dir() {
    local clone digest
    if [[ -n ${SLURM_CARBON_LOCAL:-} ]]; then
        printf '%s\n' "$SLURM_CARBON_LOCAL"
    elif ((EUID == 0)); then
        clone=$(realpath "$1")
        digest=$(printf '%s' "$clone" | sha256sum | cut -c1-12)
        printf '%s\n' "$DEV_STATE_ROOT/$(basename "$clone")-$digest"
    else
        printf '%s\n' "$1/.local"
    fi
}

# Creates state directory $1, searchable by the servers' users whatever the umask.
make_local_state_dir() {
    if [[ $1 == "$DEV_STATE_ROOT"/* ]]; then
        install -d -m 0755 "$DEV_STATE_ROOT" "$1"
    else
        mkdir -p "$1"
    fi
}

# Closes every file descriptor above 2, then runs "$@" in place of the caller: call
# it in a child, `exec_without_inherited_fds cmd ... &` or `(exec_without_inherited_fds f)`.
# Servers started through it keep none of their caller's open files: not the lock a
# caller took with flock(1), which passes its descriptor on and would be held for as
# long as the server runs.
exec_without_inherited_fds() {
    local fd
    for fd in /proc/self/fd/*; do
        fd=${fd##*/}
        if ((fd > 2)); then
            eval "exec $fd>&-"
        fi
    done
    if declare -F "$1" >/dev/null; then
        "$@" # a function runs in this child, which ends with it
        exit
    fi
    exec "$@"
}
