#!/usr/bin/env bash
# swarmcass-healthcheck.sh: the image's HEALTHCHECK. It passes only when this
# node answers CQL and its system.local row says it finished joining the ring
# (bootstrapped = COMPLETED), which Cassandra records when the node goes
# NORMAL; Cassandra starts its CQL server only after that. testcontainers
# waits on the same query.
#
# With authentication on, cqlsh logs in with ~/.cassandra/credentials, which
# the entrypoint links to the mounted credentials file. Until bootstrap has
# created that role (it does once the first node is up), the node refuses
# those credentials: a refusal from the CQL server (error 0x0100, Bad
# credentials, or "Remote end requires authentication") also passes, since
# only a node that has joined the ring runs its CQL server.
set -u
host="${CASSANDRA_RPC_ADDRESS:-0.0.0.0}"
if [ "$host" = 0.0.0.0 ]; then
	host=127.0.0.1
fi
port="${CASSANDRA_NATIVE_TRANSPORT_PORT:-9042}"
out=$(cqlsh --connect-timeout=5 --request-timeout=5 -e 'SELECT bootstrapped FROM system.local' "$host" "$port" 2>&1) || {
	case "$out" in
	*"code=0100"* | *"Remote end requires authentication"*)
		echo "CQL answers on $host:$port and asks for other credentials (authentication on): ${out##*message=}"
		exit 0
		;;
	esac
	echo "CQL does not answer on $host:$port: $out"
	exit 1
}
case "$out" in
*COMPLETED*) exit 0 ;;
esac
echo "CQL answers on $host:$port but the node has not finished joining: $out"
exit 1
