#!/usr/bin/env bash
# swarmcass-entrypoint.sh: swarmcass's wrapper around the official Cassandra
# image's docker-entrypoint.sh. It settles what the official entrypoint cannot
# know on Swarm (which of several addresses is the node's, the seed list from
# the first argument, the snitch, heap and start-up opt-ins), exports the
# CASSANDRA_* variables the official entrypoint reads, and hands over to it.
#
#   swarmcass-entrypoint.sh [SEEDS [COMMAND...]]
#
# SEEDS is a comma-separated list of hostnames or addresses (empty: the node
# itself). COMMAND defaults to `cassandra -f`. See CONTRACT.md.
set -euo pipefail

log() { echo "swarmcass-entrypoint: $*" >&2; }
die() { echo "swarmcass-entrypoint: $*" >&2; exit 1; }

: "${CASSANDRA_CONF:=/etc/cassandra}"
: "${SWARMCASS_OFFICIAL_ENTRYPOINT:=docker-entrypoint.sh}"

seeds_arg=""
if [ "$#" -gt 0 ]; then
	seeds_arg="$1"
	shift
fi
if [ "$#" -eq 0 ]; then
	set -- cassandra -f
fi

# Only a Cassandra start is configured; anything else (bash, nodetool, ...)
# runs as given, as with the official entrypoint.
case "$1" in
cassandra | -*) ;;
*) exec "$SWARMCASS_OFFICIAL_ENTRYPOINT" "$@" ;;
esac

# ---- addresses ----------------------------------------------------------

# ip4_to_int prints the 32-bit value of a dotted IPv4 address.
ip4_to_int() {
	local IFS=. a b c d
	read -r a b c d <<<"$1"
	echo $(((a << 24) | (b << 16) | (c << 8) | d))
}

is_ip4() {
	local re='^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})$'
	[[ $1 =~ $re ]] || return 1
	local i
	for i in 1 2 3 4; do
		[ "${BASH_REMATCH[$i]}" -le 255 ] || return 1
	done
}

# in_subnet ADDR CIDR succeeds when ADDR lies inside CIDR.
in_subnet() {
	local net=${2%/*} len=${2#*/}
	local mask=$(((0xFFFFFFFF << (32 - len)) & 0xFFFFFFFF))
	[ $(($(ip4_to_int "$1") & mask)) -eq $(($(ip4_to_int "$net") & mask)) ]
}

# candidates prints "ADDR IFACE" for each IPv4 address a node may use, in the
# kernel's order (the order the official entrypoint's `ip address` sees):
# not loopback, not link-local, and not a secondary address (a Swarm VIP
# added beside the task's own address on the same network is secondary).
candidates() {
	ip -o -4 address show | awk '
		$3 != "inet" { next }
		$2 == "lo" { next }
		/ secondary / { next }
		{
			addr = $4; sub(/\/.*/, "", addr)
			if (addr ~ /^127\./ || addr ~ /^169\.254\./) next
			iface = $2; sub(/@.*/, "", iface)
			print addr, iface
		}'
}

# pick_address prints the node's address: the first candidate inside
# CASSANDRA_LISTEN_SUBNET when it is set, else the first candidate.
pick_address() {
	local addr iface found=""
	while read -r addr iface; do
		found="$found $addr($iface)"
		if [ -z "${CASSANDRA_LISTEN_SUBNET:-}" ] || in_subnet "$addr" "$CASSANDRA_LISTEN_SUBNET"; then
			log "node address $addr on $iface${CASSANDRA_LISTEN_SUBNET:+ (inside $CASSANDRA_LISTEN_SUBNET)}"
			echo "$addr"
			return 0
		fi
	done < <(candidates)
	if [ -n "${CASSANDRA_LISTEN_SUBNET:-}" ]; then
		die "no address of this container is inside CASSANDRA_LISTEN_SUBNET=$CASSANDRA_LISTEN_SUBNET (found:${found:- none}); attach the container to that network or correct the subnet"
	fi
	die "this container has no IPv4 address besides loopback and link-local; attach it to a network or set CASSANDRA_LISTEN_ADDRESS"
}

if [ -n "${CASSANDRA_LISTEN_SUBNET:-}" ]; then
	subnet_re='^[0-9.]+/([0-9]|[12][0-9]|3[0-2])$'
	if ! [[ $CASSANDRA_LISTEN_SUBNET =~ $subnet_re ]] || ! is_ip4 "${CASSANDRA_LISTEN_SUBNET%/*}"; then
		die "CASSANDRA_LISTEN_SUBNET=$CASSANDRA_LISTEN_SUBNET is not an IPv4 CIDR like 10.0.9.0/24"
	fi
fi

# The official entrypoint would resolve `auto` to the first address of all;
# resolve it here, once, so the subnet rule holds for every address setting.
node_address=""
case ":${CASSANDRA_LISTEN_ADDRESS:-auto}:${CASSANDRA_BROADCAST_ADDRESS:-}:${CASSANDRA_BROADCAST_RPC_ADDRESS:-}:" in
*:auto:*) node_address=$(pick_address) ;;
esac
[ "${CASSANDRA_LISTEN_ADDRESS:-auto}" != auto ] || CASSANDRA_LISTEN_ADDRESS=$node_address
[ "${CASSANDRA_BROADCAST_ADDRESS:-}" != auto ] || CASSANDRA_BROADCAST_ADDRESS=$node_address
[ "${CASSANDRA_BROADCAST_RPC_ADDRESS:-}" != auto ] || CASSANDRA_BROADCAST_RPC_ADDRESS=$node_address
: "${CASSANDRA_BROADCAST_ADDRESS:=$CASSANDRA_LISTEN_ADDRESS}"
: "${CASSANDRA_BROADCAST_RPC_ADDRESS:=$CASSANDRA_BROADCAST_ADDRESS}"
: "${CASSANDRA_RPC_ADDRESS:=0.0.0.0}"
export CASSANDRA_LISTEN_ADDRESS CASSANDRA_BROADCAST_ADDRESS CASSANDRA_BROADCAST_RPC_ADDRESS CASSANDRA_RPC_ADDRESS

# ---- seeds ---------------------------------------------------------------

seeds="${seeds_arg//[[:space:]]/}"
seeds="${seeds#,}"
seeds="${seeds%,}"
if [ -n "$seeds" ]; then
	CASSANDRA_SEEDS="$seeds"
fi
: "${CASSANDRA_SEEDS:=$CASSANDRA_BROADCAST_ADDRESS}"
if ! [[ $CASSANDRA_SEEDS =~ ^[A-Za-z0-9._:,-]+$ ]]; then
	die "seed list \"$CASSANDRA_SEEDS\" must be comma-separated hostnames or addresses (letters, digits, . _ : -)"
fi
export CASSANDRA_SEEDS

# ---- seeds that already run -------------------------------------------------

# SWARMCASS_WAIT_FOR names seeds that already run (bootstrap names them for
# every node after the first). The node starts only once one of them resolves
# and answers on the storage port: on Swarm a service on another host
# resolves only seconds after this task's host joins the overlay, and a node
# that starts then skips the seeds it cannot resolve. On a first boot (no data
# yet) such a seed founds a ring of its own, so after SWARMCASS_WAIT_SECONDS
# without one the node exits; a node with data gossips with no seed and stays
# apart from the ring (seen when nodes restart together after a down), but it
# is a member already and a lost seed host must not keep it down, so after
# the wait it starts anyway.
wait_for="${SWARMCASS_WAIT_FOR:-}"
wait_for="${wait_for//[[:space:]]/}"
if [ -n "$wait_for" ]; then
	wait_s="${SWARMCASS_WAIT_SECONDS:-120}"
	[[ $wait_s =~ ^[0-9]+$ ]] || die "SWARMCASS_WAIT_SECONDS=$wait_s is not a number of seconds"
	has_data=""
	[ ! -d /var/lib/cassandra/data/system ] || has_data=1
	IFS=, read -r -a wait_list <<<"$wait_for"
	deadline=$((SECONDS + wait_s))
	reached=""
	while [ -z "$reached" ]; do
		for h in "${wait_list[@]}"; do
			if { is_ip4 "$h" || getent hosts "$h" >/dev/null; } && timeout 2 bash -c "exec 3<>/dev/tcp/$h/7000" 2>/dev/null; then
				reached=$h
				break
			fi
		done
		[ -z "$reached" ] || break
		if [ $SECONDS -ge $deadline ]; then
			none="none of the running seeds ($wait_for) resolves and answers on port 7000 after ${wait_s}s"
			if [ -n "$has_data" ]; then
				log "$none; starting anyway, as this node has data and knows its peers"
				break
			fi
			die "$none; not starting, so as not to found a second ring: check the overlay network between the swarm hosts (TCP and UDP 7946, UDP 4789, and IP protocol 50 for an encrypted overlay)"
		fi
		sleep 1
	done
	if [ -n "$reached" ]; then
		log "running seed $reached answers on port 7000"
	fi
	# A seed named by its address (bootstrap names the first node so when
	# the others start with it: Swarm's DNS lists a task only once its
	# health check passes) joins the seed list, so that the node gossips
	# with it although its name does not resolve yet.
	if [ -n "$reached" ] && is_ip4 "$reached" && ! [[ ",$CASSANDRA_SEEDS," == *",$reached,"* ]]; then
		CASSANDRA_SEEDS="$CASSANDRA_SEEDS,$reached"
		export CASSANDRA_SEEDS
	fi
fi

# ---- snitch, cluster, tokens ---------------------------------------------

: "${CASSANDRA_ENDPOINT_SNITCH:=GossipingPropertyFileSnitch}"
: "${CASSANDRA_DC:=datacenter1}"
: "${CASSANDRA_RACK:=rack1}"
export CASSANDRA_ENDPOINT_SNITCH CASSANDRA_DC CASSANDRA_RACK
for v in CASSANDRA_DC CASSANDRA_RACK; do
	if ! [[ ${!v} =~ ^[A-Za-z0-9._-]+$ ]]; then
		die "$v=${!v} may hold only letters, digits, . _ and -"
	fi
done

initial_tokens="${CASSANDRA_INITIAL_TOKENS:-}"
initial_tokens="${initial_tokens//[[:space:]]/}"
if [ -n "$initial_tokens" ]; then
	if ! [[ $initial_tokens =~ ^-?[0-9]+(,-?[0-9]+)*$ ]]; then
		die "CASSANDRA_INITIAL_TOKENS=$CASSANDRA_INITIAL_TOKENS must be comma-separated integer tokens (Murmur3Partitioner)"
	fi
	IFS=, read -r -a token_list <<<"$initial_tokens"
	: "${CASSANDRA_NUM_TOKENS:=${#token_list[@]}}"
	if [ "${#token_list[@]}" != "$CASSANDRA_NUM_TOKENS" ]; then
		die "The number of initial tokens (by initial_token) specified (${#token_list[@]}) is different from num_tokens value ($CASSANDRA_NUM_TOKENS): set CASSANDRA_NUM_TOKENS to ${#token_list[@]} or give $CASSANDRA_NUM_TOKENS tokens"
	fi
fi
: "${CASSANDRA_NUM_TOKENS:=16}"
if ! [[ $CASSANDRA_NUM_TOKENS =~ ^[1-9][0-9]*$ ]]; then
	die "CASSANDRA_NUM_TOKENS=$CASSANDRA_NUM_TOKENS is not a positive number"
fi
export CASSANDRA_NUM_TOKENS

native_port="${CASSANDRA_NATIVE_TRANSPORT_PORT:-}"
if [ -n "$native_port" ] && ! { [[ $native_port =~ ^[1-9][0-9]{0,4}$ ]] && [ "$native_port" -le 65535 ]; }; then
	die "CASSANDRA_NATIVE_TRANSPORT_PORT=$native_port is not a port from 1 to 65535"
fi

case "${CASSANDRA_AUTO_BOOTSTRAP:-}" in
"" | true | false) ;;
*) die "CASSANDRA_AUTO_BOOTSTRAP=$CASSANDRA_AUTO_BOOTSTRAP must be true or false" ;;
esac

# ---- heap ------------------------------------------------------------------

# cassandra-env.sh sizes the heap from the host's memory, which is wrong when
# several nodes share a host; it accepts the two variables only as a pair.
if { [ -n "${MAX_HEAP_SIZE:-}" ] && [ -z "${HEAP_NEWSIZE:-}" ]; } || { [ -z "${MAX_HEAP_SIZE:-}" ] && [ -n "${HEAP_NEWSIZE:-}" ]; }; then
	die "please set or unset MAX_HEAP_SIZE and HEAP_NEWSIZE in pairs (MAX_HEAP_SIZE=${MAX_HEAP_SIZE:-} HEAP_NEWSIZE=${HEAP_NEWSIZE:-}), e.g. MAX_HEAP_SIZE=512M HEAP_NEWSIZE=128M"
fi
for v in MAX_HEAP_SIZE HEAP_NEWSIZE; do
	if [ -n "${!v:-}" ] && ! [[ ${!v} =~ ^[1-9][0-9]*[kKmMgG]$ ]]; then
		die "$v=${!v} is not a JVM size like 512M or 2G"
	fi
done

# ---- opt-ins ---------------------------------------------------------------

case "${CASSANDRA_FAST_START:-false}" in
true)
	ring_delay="${CASSANDRA_RING_DELAY_MS:-5000}"
	[[ $ring_delay =~ ^[0-9]+$ ]] || die "CASSANDRA_RING_DELAY_MS=$ring_delay is not a number of milliseconds"
	# Ours first: a flag the user repeats in JVM_EXTRA_OPTS comes later and wins.
	JVM_EXTRA_OPTS="-Dcassandra.skip_wait_for_gossip_to_settle=0 -Dcassandra.ring_delay_ms=$ring_delay${JVM_EXTRA_OPTS:+ $JVM_EXTRA_OPTS}"
	export JVM_EXTRA_OPTS
	;;
false) ;;
*) die "CASSANDRA_FAST_START=$CASSANDRA_FAST_START must be true or false" ;;
esac

# The role manager makes the default superuser this long after the node
# starts serving (Cassandra's default: 10 s, "to give the node a chance to
# see its peers"); a failed try is made again after as long.
if [ -n "${CASSANDRA_SUPERUSER_SETUP_DELAY_MS:-}" ]; then
	[[ $CASSANDRA_SUPERUSER_SETUP_DELAY_MS =~ ^[0-9]+$ ]] ||
		die "CASSANDRA_SUPERUSER_SETUP_DELAY_MS=$CASSANDRA_SUPERUSER_SETUP_DELAY_MS is not a number of milliseconds"
	JVM_EXTRA_OPTS="-Dcassandra.superuser_setup_delay_ms=$CASSANDRA_SUPERUSER_SETUP_DELAY_MS${JVM_EXTRA_OPTS:+ $JVM_EXTRA_OPTS}"
	export JVM_EXTRA_OPTS
fi

# ---- yaml settings the official entrypoint does not handle -----------------

# set_yaml KEY VALUE replaces the (possibly commented-out) top-level KEY line
# of cassandra.yaml, or appends one. Like the official entrypoint it rewrites
# the file in place, so a bind-mounted file keeps working.
set_yaml() {
	local file="$CASSANDRA_CONF/cassandra.yaml" tmp
	tmp=$(mktemp)
	awk -v key="$1" -v val="$2" '
		BEGIN { done = 0 }
		!done && ($0 ~ "^" key ":" || $0 ~ "^# *" key ":") { print key ": " val; done = 1; next }
		{ print }
		END { if (!done) print key ": " val }
	' "$file" >"$tmp"
	cat "$tmp" >"$file"
	rm -f "$tmp"
}

# set_yaml_class KEY CLASS sets KEY to a class name and drops the indented
# lines that follow a KEY line (5.0's stock file writes the authenticator as
# a `class_name:` block, which a plain value line must replace whole).
set_yaml_class() {
	local file="$CASSANDRA_CONF/cassandra.yaml" tmp
	tmp=$(mktemp)
	awk -v key="$1" -v val="$2" '
		BEGIN { done = 0; skip = 0 }
		skip && /^[ \t]+[^ \t#]/ { next }
		{ skip = 0 }
		!done && $0 ~ "^" key ":" { print key ": " val; done = 1; skip = 1; next }
		{ print }
		END { if (!done) print key ": " val }
	' "$file" >"$tmp"
	cat "$tmp" >"$file"
	rm -f "$tmp"
}

# ---- authentication ----------------------------------------------------------

# SWARMCASS_AUTH=true: PasswordAuthenticator, CassandraAuthorizer and
# CassandraRoleManager; false: AllowAll, Cassandra's own default. Unset: true
# when the credentials file (a cqlsh credentials file, which swarmcass
# bootstrap mounts as a Swarm secret) exists, else cassandra.yaml is left as
# it is. The file is linked as ~/.cassandra/credentials ($HOME is /root for
# root in a container), so cqlsh run in
# the container (docker exec, the health check) logs in on its own; the
# password is never passed on a command line.
: "${SWARMCASS_CREDENTIALS_FILE:=/run/secrets/swarmcass-cql-credentials}"
auth="${SWARMCASS_AUTH:-}"
if [ -z "$auth" ] && [ -e "$SWARMCASS_CREDENTIALS_FILE" ]; then
	auth=true
fi
case "$auth" in
true)
	set_yaml_class authenticator PasswordAuthenticator
	set_yaml_class authorizer CassandraAuthorizer
	set_yaml_class role_manager CassandraRoleManager
	if [ ! -e "$SWARMCASS_CREDENTIALS_FILE" ]; then
		log "authentication on, but there is no credentials file $SWARMCASS_CREDENTIALS_FILE: cqlsh in this container must be given credentials"
	fi
	;;
false)
	set_yaml_class authenticator AllowAllAuthenticator
	set_yaml_class authorizer AllowAllAuthorizer
	;;
"") ;;
*) die "SWARMCASS_AUTH=$SWARMCASS_AUTH must be true or false" ;;
esac
if [ "$auth" = true ] && [ "$(id -u)" = 0 ]; then
	cql_dir="${HOME:-/root}/.cassandra"
	mkdir -p "$cql_dir" && ln -sfn "$SWARMCASS_CREDENTIALS_FILE" "$cql_dir/credentials" ||
		log "could not link $SWARMCASS_CREDENTIALS_FILE as $cql_dir/credentials: cqlsh in this container needs --credentials"
fi

# ---- TLS ---------------------------------------------------------------------

# set_yaml_block KEY TEXT replaces the top-level KEY mapping of cassandra.yaml
# (its line and every indented, blank or comment line under it, as the stock
# file writes server_encryption_options) with TEXT, appended at the end.
set_yaml_block() {
	local file="$CASSANDRA_CONF/cassandra.yaml" tmp
	tmp=$(mktemp)
	awk -v key="$1" '
		BEGIN { skip = 0 }
		$0 ~ "^" key ":" { skip = 1; next }
		skip && ($0 ~ /^[ \t]/ || $0 ~ /^$/) { next }
		{ skip = 0; print }
	' "$file" >"$tmp"
	printf '%s\n' "$2" >>"$tmp"
	cat "$tmp" >"$file"
	rm -f "$tmp"
}

# SWARMCASS_TLS=true: internode encryption for every connection (a peer that
# connects in plaintext is refused: optional false), peers
# authenticating each other, and client encryption required on the CQL port
# (no plaintext), both with PEM files (PEMBasedSslContextFactory): the
# keystore holds the node's unencrypted PKCS#8 key and its certificate chain
# (so no keystore_password), the truststore the CA certificate. swarmcass
# bootstrap --tls mounts both as Swarm secrets. cqlsh in the container gets a
# cqlshrc that connects with TLS and checks the node's certificate against
# the CA. false or unset: Cassandra's default, no encryption.
: "${SWARMCASS_TLS_KEYSTORE:=/run/secrets/swarmcass-tls-node.pem}"
: "${SWARMCASS_TLS_TRUSTSTORE:=/run/secrets/swarmcass-tls-ca.pem}"
tls="${SWARMCASS_TLS:-}"
case "$tls" in
true)
	for f in "$SWARMCASS_TLS_KEYSTORE" "$SWARMCASS_TLS_TRUSTSTORE"; do
		[ -e "$f" ] || die "SWARMCASS_TLS=true, but $f is missing: mount the node's keystore (SWARMCASS_TLS_KEYSTORE) and the CA certificate (SWARMCASS_TLS_TRUSTSTORE), as swarmcass bootstrap --tls does with the cluster's Swarm secrets"
	done
	factory=org.apache.cassandra.security.PEMBasedSslContextFactory
	set_yaml_block server_encryption_options "server_encryption_options:
  internode_encryption: all
  optional: false
  legacy_ssl_storage_port_enabled: false
  ssl_context_factory:
    class_name: $factory
  keystore: $SWARMCASS_TLS_KEYSTORE
  truststore: $SWARMCASS_TLS_TRUSTSTORE
  require_client_auth: true
  require_endpoint_verification: false"
	set_yaml_block client_encryption_options "client_encryption_options:
  enabled: true
  optional: false
  ssl_context_factory:
    class_name: $factory
  keystore: $SWARMCASS_TLS_KEYSTORE
  truststore: $SWARMCASS_TLS_TRUSTSTORE
  require_client_auth: false"
	if [ "$(id -u)" = 0 ]; then
		cql_dir="${HOME:-/root}/.cassandra"
		mkdir -p "$cql_dir" && printf '[connection]\nssl = true\n\n[ssl]\ncertfile = %s\nvalidate = true\n' "$SWARMCASS_TLS_TRUSTSTORE" >"$cql_dir/cqlshrc" ||
			log "could not write $cql_dir/cqlshrc: cqlsh in this container needs --ssl and SSL_CERTFILE=$SWARMCASS_TLS_TRUSTSTORE"
	fi
	;;
false)
	set_yaml_block server_encryption_options "server_encryption_options:
  internode_encryption: none"
	set_yaml_block client_encryption_options "client_encryption_options:
  enabled: false"
	;;
"") ;;
*) die "SWARMCASS_TLS=$SWARMCASS_TLS must be true or false" ;;
esac

if [ -n "$initial_tokens" ]; then
	set_yaml initial_token "$initial_tokens"
fi
if [ -n "${CASSANDRA_AUTO_BOOTSTRAP:-}" ]; then
	set_yaml auto_bootstrap "$CASSANDRA_AUTO_BOOTSTRAP"
fi
if [ -n "$native_port" ]; then
	set_yaml native_transport_port "$native_port"
fi

log "seeds=$CASSANDRA_SEEDS listen_address=$CASSANDRA_LISTEN_ADDRESS broadcast_address=$CASSANDRA_BROADCAST_ADDRESS broadcast_rpc_address=$CASSANDRA_BROADCAST_RPC_ADDRESS dc=$CASSANDRA_DC rack=$CASSANDRA_RACK num_tokens=$CASSANDRA_NUM_TOKENS${initial_tokens:+ initial_token=$initial_tokens}${CASSANDRA_AUTO_BOOTSTRAP:+ auto_bootstrap=$CASSANDRA_AUTO_BOOTSTRAP}${native_port:+ native_transport_port=$native_port}${auth:+ auth=$auth}${tls:+ tls=$tls}${MAX_HEAP_SIZE:+ heap=$MAX_HEAP_SIZE/$HEAP_NEWSIZE}${JVM_EXTRA_OPTS:+ jvm_extra_opts=\"$JVM_EXTRA_OPTS\"}"

exec "$SWARMCASS_OFFICIAL_ENTRYPOINT" "$@"
