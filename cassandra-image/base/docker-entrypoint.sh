#!/usr/bin/env bash
# docker-entrypoint.sh of swarmcass's offline Cassandra base image, written by
# swarmcass to the interface of the official image's entrypoint
# (docker-library/cassandra), which it does not copy. It is also the
# entrypoint the wrapper test image runs. What it does, in this order:
#   - no arguments, or a first argument starting with '-': run `cassandra -f ...`;
#   - for a Cassandra start as root, when a `cassandra` user exists: give it the
#     data, log and conf directories, and run again as that user (gosu);
#   - CASSANDRA_LISTEN_ADDRESS defaults to `auto` = the first IPv4 address of
#     `ip address` that is not loopback or link-local; the broadcast address
#     defaults to the listen address, the broadcast RPC address to the
#     broadcast address, CASSANDRA_RPC_ADDRESS to 0.0.0.0, CASSANDRA_SEEDS to
#     the broadcast address;
#   - writes the seeds into cassandra.yaml's `- seeds:` line, and each of
#     broadcast_address, broadcast_rpc_address, cluster_name, endpoint_snitch,
#     listen_address, num_tokens, rpc_address whose CASSANDRA_<KEY> is set
#     over its (possibly commented-out) line;
#   - writes CASSANDRA_DC and CASSANDRA_RACK into cassandra-rackdc.properties.
# Anything else (bash, nodetool, cqlsh ...) runs as given.
# shellcheck disable=SC2016 # awk programs are single-quoted on purpose
set -e
: "${CASSANDRA_CONF:=/etc/cassandra}"

if [ "$#" -eq 0 ] || [ "${1#-}" != "$1" ]; then
	set -- cassandra -f "$@"
fi

if [ "$1" = cassandra ] && [ "$(id -u)" = 0 ] && id cassandra >/dev/null 2>&1; then
	for d in /var/lib/cassandra /var/log/cassandra "$CASSANDRA_CONF"; do
		[ -d "$d" ] && find "$d" \! -user cassandra -exec chown cassandra: '{}' +
	done
	exec gosu cassandra "$BASH_SOURCE" "$@"
fi

first_address() {
	ip -o -4 address show | awk '
		$2 == "lo" { next }
		{ a = $4; sub(/\/.*/, "", a) }
		a ~ /^127\./ || a ~ /^169\.254\./ { next }
		{ print a; exit }'
}

# rewrite FILE AWK-PROGRAM [awk -v assignments...]: in place, without mv, so
# a bind-mounted file keeps working.
rewrite() {
	local file="$1" prog="$2" tmp
	shift 2
	tmp=$(mktemp)
	awk "$@" "$prog" "$file" >"$tmp"
	cat "$tmp" >"$file"
	rm -f "$tmp"
}

if [ "$1" = cassandra ]; then
	: "${CASSANDRA_RPC_ADDRESS=0.0.0.0}"
	: "${CASSANDRA_LISTEN_ADDRESS=auto}"
	if [ "$CASSANDRA_LISTEN_ADDRESS" = auto ]; then
		CASSANDRA_LISTEN_ADDRESS=$(first_address)
	fi
	: "${CASSANDRA_BROADCAST_ADDRESS=$CASSANDRA_LISTEN_ADDRESS}"
	if [ "$CASSANDRA_BROADCAST_ADDRESS" = auto ]; then
		CASSANDRA_BROADCAST_ADDRESS=$(first_address)
	fi
	: "${CASSANDRA_BROADCAST_RPC_ADDRESS:=$CASSANDRA_BROADCAST_ADDRESS}"
	if [ -n "${CASSANDRA_NAME:+1}" ]; then
		: "${CASSANDRA_SEEDS:=cassandra}"
	fi
	: "${CASSANDRA_SEEDS:=$CASSANDRA_BROADCAST_ADDRESS}"

	yaml="$CASSANDRA_CONF/cassandra.yaml"
	rewrite "$yaml" '/- seeds:/ { sub(/- seeds:.*/, "- seeds: \"" seeds "\"") } { print }' -v seeds="$CASSANDRA_SEEDS"
	for key in broadcast_address broadcast_rpc_address cluster_name endpoint_snitch listen_address num_tokens rpc_address; do
		var="CASSANDRA_${key^^}"
		val="${!var:-}"
		if [ -n "$val" ]; then
			rewrite "$yaml" '$0 ~ "^(# )?" key ":" { $0 = key ": " val } { print }' -v key="$key" -v val="$val"
		fi
	done
	for key in dc rack; do
		var="CASSANDRA_${key^^}"
		val="${!var:-}"
		if [ -n "$val" ]; then
			rewrite "$CASSANDRA_CONF/cassandra-rackdc.properties" '$0 ~ "^" key "=" { $0 = key "=" val } { print }' -v key="$key" -v val="$val"
		fi
	done
fi

exec "$@"
