# shellcheck shell=bash
# Sourced by deploy/local/cluster: nodes of a multi-node cluster with their clock off.
#
#   SLURM_CARBON_NODE_CLOCK_OFFSET="scn2=-90s" deploy/local/cluster start --nodes 2
#
# (a comma-separated list of NODE=OFFSET, OFFSET a signed whole number of seconds with
# an `s`) runs each named node under libfaketime (Debian's faketime package): its
# slurmd, its Prolog and Epilog (their wrappers: slurmd gives hooks a fresh
# environment), its jobs' tasks (the TaskProlog exports the same variables) and
# whatever `cluster exec NODE` runs (its agent) read the wall clock moved by OFFSET.
# Monotonic clocks: Debian 12's libfaketime 0.9.10 breaks one Python wait or the other.
# Left alone (FAKETIME_DONT_FAKE_MONOTONIC=1), time.sleep fails with EINVAL (its
# clock_nanosleep on CLOCK_MONOTONIC); moved too, threading.Event.wait never returns.
# So the daemons (slurmd, the agent, which waits on events) leave them alone, and the
# jobs' tasks (the simulated workload sleeps) have them moved by the same constant,
# which keeps every duration. Unset or empty: every node on the host's clock. A start writes each node's variables to
# <node dir>/clock.env (or removes it) and restarts the slurmd of a node whose offset
# changed. munged runs on the host, so MUNGE credentials carry the host's time.
#
# Needs from the caller: NODES, node_names, node_dir, die, stop_daemons, live_pid.

# The largest offset either way: an hour, well past the skews worth testing (NTP keeps
# nodes within milliseconds; Slurm's job credentials expire after 120 s by default).
# shellcheck disable=SC2034 # shown by deploy/local/cluster's usage
MAX_CLOCK_OFFSET_S=3600
CLOCK_OFFSET_VAR=SLURM_CARBON_NODE_CLOCK_OFFSET
CLOCK_ENV_NAME=clock.env

# Prints the library Debian's libfaketime installs (its directory is the multiarch one).
libfaketime_path() {
    local found
    for found in /usr/lib/*/faketime/libfaketime.so.1; do
        [[ -e $found ]] && echo "$found" && return 0
    done
    return 1
}

# Checks $SLURM_CARBON_NODE_CLOCK_OFFSET against the $NODES nodes and fills the
# associative array clock_offset (node -> offset such as -90s); dies on bad input.
declare -A clock_offset=()
parse_clock_offsets() {
    local spec=${!CLOCK_OFFSET_VAR:-} item node offset seconds items
    clock_offset=()
    [[ -n $spec ]] || return 0
    ((NODES > 1)) || die "$CLOCK_OFFSET_VAR: needs start --nodes 2 or more"
    libfaketime_path >/dev/null || die "$CLOCK_OFFSET_VAR: no libfaketime (apt-get install faketime)"
    IFS=, read -ra items <<<"$spec"
    for item in "${items[@]}"; do
        [[ $item =~ ^([^=]+)=([+-])([0-9]{1,6})s$ ]] ||
            die "$CLOCK_OFFSET_VAR: expected NODE=OFFSET such as scn2=-90s, got '$item'"
        node=${BASH_REMATCH[1]}
        seconds=$((10#${BASH_REMATCH[3]}))
        offset=${BASH_REMATCH[2]}${seconds}s
        node_names "$NODES" | grep -qxF "$node" ||
            die "$CLOCK_OFFSET_VAR: no node '$node' (nodes: $(node_names "$NODES" | paste -sd' '))"
        ((seconds <= MAX_CLOCK_OFFSET_S)) ||
            die "$CLOCK_OFFSET_VAR: $node's offset $offset is beyond $MAX_CLOCK_OFFSET_S s"
        clock_offset[$node]=$offset
    done
}

# Prints node $1's libfaketime variables, one NAME=value a line (nothing: the host's clock).
node_clock_env() {
    cat "$(node_dir "$1")/$CLOCK_ENV_NAME" 2>/dev/null || true
}

# Writes each node's clock.env from clock_offset; stops the slurmd of a node whose
# clock changed, so that the launch that follows starts it on its new clock.
apply_node_clocks() {
    local node file want library
    library=$(libfaketime_path) || library=""
    for node in $(node_names "$NODES"); do
        file=$(node_dir "$node")/$CLOCK_ENV_NAME
        want=""
        if [[ -n ${clock_offset[$node]:-} ]]; then
            want=$(printf 'LD_PRELOAD=%s\nFAKETIME=%s\nFAKETIME_DONT_FAKE_MONOTONIC=1' \
                "$library" "${clock_offset[$node]}")
        fi
        [[ $want != "$(node_clock_env "$node")" ]] || continue
        if [[ -n $want ]]; then
            echo "cluster: $node's clock off by ${clock_offset[$node]} (libfaketime)"
            printf '%s\n' "$want" >"$file.tmp"
            mv "$file.tmp" "$file"
        else
            echo "cluster: $node back on the host's clock"
            rm -f "$file"
        fi
        if live_pid "slurmd@$node" >/dev/null; then
            stop_daemons "slurmd@$node"
        fi
    done
}
