# shellcheck shell=bash
# Sourced by deploy/local/cluster: the nodes of a multi-node cluster (start --nodes N, N > 1).
#
# Each node is one slurmd in a network namespace of its own, joined to the host by a
# veth pair whose host end sits on one bridge; the host holds the bridge's address,
# where slurmctld (and the service a test starts) are reached. The namespaces reach
# each other through the bridge (no IP forwarding on the host is needed) and the host's
# munged through its unix socket (a path works across network namespaces).
# Every namespace and link made is recorded in $STATE/network before it is made, so
# that stop, and a start after a crash, remove exactly those and nothing else.
#
# Needs from the caller: STATE, die.

# The most nodes: each claims every core and 90 % of the memory of this one machine,
# and each runs a slurmd and a node agent; 8 already oversubscribe a 2-core machine
# fourfold, which a test cluster tolerates and more would not.
# shellcheck disable=SC2034 # read by deploy/local/cluster
MAX_NODES=8
# A private /24 used only between the host's bridge and these namespaces (RFC 1918;
# 10.213 chosen as unlikely to be routed on a development machine).
SUBNET_PREFIX=10.213.0
SUBNET_BITS=24
# The host's address on the bridge: slurmctld's address in slurm.conf.
HOST_ADDR=$SUBNET_PREFIX.1
# Node i (from 1) is at $SUBNET_PREFIX.$((NODE_ADDR_BASE + i)).
NODE_ADDR_BASE=10
# Node names are scn1..scnN: short, and unlike any host name.
NODE_NAME_PREFIX=scn

NETWORK_RECORD=$STATE/network
# Where `ip netns add` puts its namespaces.
NETNS_DIR=/run/netns
# Namespace and link names carry a tag of this state dir, so that two clones' clusters
# never touch each other's (interface names are at most 15 characters).
NET_TAG=sc$(printf '%s' "$STATE" | md5sum | cut -c1-5)

node_name() { printf '%s%d\n' "$NODE_NAME_PREFIX" "$1"; }
node_addr() { printf '%s.%d\n' "$SUBNET_PREFIX" $((NODE_ADDR_BASE + $1)); }
node_netns() { printf '%s-n%d\n' "$NET_TAG" "$1"; }
# A node's own directory: spool, log, pid file, fake GPUs.
node_dir() { printf '%s/node/%s\n' "$STATE" "$1"; }

# Prints the network namespace of node name $1; fails for a name that is not a node.
netns_of() {
    local i
    [[ $1 =~ ^$NODE_NAME_PREFIX([0-9]+)$ ]] || return 1
    i=${BASH_REMATCH[1]}
    node_netns "$i"
}

# Runs "${@:2}" in place of the caller, in network namespace $1 only. Not `ip netns exec`:
# that also remounts /sys, without /sys/fs/cgroup, and slurmd fails to start without it.
in_netns() {
    exec nsenter --net="$NETNS_DIR/$1" -- "${@:2}"
}

# Records "$1 $2" (netns NAME or link NAME) before it is made.
record() {
    grep -qxF "$1 $2" "$NETWORK_RECORD" 2>/dev/null || printf '%s %s\n' "$1" "$2" >>"$NETWORK_RECORD"
}

# Ends every process still in recorded namespace $1 (slurmstepd, node agents): TERM,
# then KILL after $2 seconds.
end_namespace_processes() {
    local pids deadline=$((SECONDS + $2))
    pids=$(ip netns pids "$1" 2>/dev/null) || return 0
    [[ -n $pids ]] || return 0
    # shellcheck disable=SC2086 # one pid per word
    kill -TERM $pids 2>/dev/null || true
    while [[ -n $(ip netns pids "$1" 2>/dev/null) ]]; do
        if ((SECONDS >= deadline)); then
            # shellcheck disable=SC2046
            kill -KILL $(ip netns pids "$1") 2>/dev/null || true
            sleep 0.2
            break
        fi
        sleep 0.2
    done
}

# Removes exactly the namespaces and links recorded, then the record.
teardown_network() {
    local kind name
    [[ -f $NETWORK_RECORD ]] || return 0
    while read -r kind name; do
        if [[ $kind == netns ]] && ip netns list | grep -q "^$name\b"; then
            echo "cluster: removing network namespace $name"
            end_namespace_processes "$name" "$1"
            ip netns delete "$name"
        fi
    done <"$NETWORK_RECORD"
    while read -r kind name; do
        if [[ $kind == link ]] && ip link show "$name" >/dev/null 2>&1; then
            echo "cluster: removing link $name"
            ip link delete "$name"
        fi
    done <"$NETWORK_RECORD"
    rm -f "$NETWORK_RECORD"
}

# Whether the network of $1 nodes is up as recorded: bridge with its address, each
# namespace with its address.
network_up() {
    local i
    ip -o -4 addr show dev "$NET_TAG-br" 2>/dev/null | grep -q " $HOST_ADDR/" || return 1
    for ((i = 1; i <= $1; i++)); do
        ip -n "$(node_netns "$i")" -o -4 addr show dev eth0 2>/dev/null |
            grep -q " $(node_addr "$i")/" || return 1
    done
}

# Makes the bridge and $1 namespaces, each with a veth pair (host end on the bridge,
# eth0 inside) and its address; leftovers of an earlier run are removed first.
setup_network() {
    local i ns host_end bridge=$NET_TAG-br
    network_up "$1" && return 0
    teardown_network 5
    if ip -o -4 addr show | grep -q " $HOST_ADDR/"; then
        die "$HOST_ADDR is already on a link this cluster did not make (another clone's multi-node cluster?): $(ip -o -4 addr show | grep " $HOST_ADDR/" | cut -d' ' -f2)"
    fi
    echo "cluster: making the network of $1 nodes ($SUBNET_PREFIX.0/$SUBNET_BITS, bridge $bridge)"
    record link "$bridge"
    ip link add "$bridge" type bridge
    ip addr add "$HOST_ADDR/$SUBNET_BITS" dev "$bridge"
    ip link set "$bridge" up
    for ((i = 1; i <= $1; i++)); do
        ns=$(node_netns "$i")
        host_end=$ns
        record netns "$ns"
        record link "$host_end"
        ip netns add "$ns"
        ip link add "$host_end" type veth peer name eth0 netns "$ns"
        ip link set "$host_end" master "$bridge" up
        ip -n "$ns" addr add "$(node_addr "$i")/$SUBNET_BITS" dev eth0
        ip -n "$ns" link set lo up
        ip -n "$ns" link set eth0 up
    done
}
