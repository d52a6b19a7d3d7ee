#!/usr/bin/env bash
# STAND-IN for the official cassandra image's /usr/local/bin/docker-entrypoint.sh
# (docker-library/cassandra), written for swarmcass's wrapper test image, which
# cannot pull the real image. It does what the official entrypoint does that
# the node contract depends on, in the same order and with the same defaults:
#   - no arguments, or a first argument starting with '-': run `cassandra -f ...`;
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
# It does not step down to a cassandra user (the test image has none).
# shellcheck disable=SC2016 # awk programs are single-quoted on purpose
set -e

if [ "$#" -eq 0 ] || [ "${1#-}" != "$1" ]; then
	set -- cassandra -f "$@"
fi

first_address() {
	ip -o -4 address show | awk '
		$2 == "lo" { next }
		{ a = $4; sub(/\/.*/, "", a) }
		a ~ /^127\./ || a ~ /^169\.254\./ { next }
		{ print a; exit }'
}

# rewrite FILE AWK-PROGRAM [awk -v assignments...]: in place, without mv.
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
	for key in broadcast_address broadcast_rpc_address cluster_name endpoint_snitch listen_address num_tokens rpc_address start_rpc; do
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
			rewrite "$CASSANDRA_CONF/cassandra-rackdc.properties" '$0 ~ "^" key "=" { $0 = key "= " val } { print }' -v key="$key" -v val="$val"
		fi
	done
fi

exec "$@"
