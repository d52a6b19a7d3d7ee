"""Connects to a cassim ring with the Python driver's defaults and prints, as
JSON, what the driver learned. Run by TestIntegrationDrivers (cassim/drivers_integration_test.go).
Arguments: the contact point, and a username and password to log in with."""
import json
import sys

import cassandra
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import Cluster

cluster = Cluster([sys.argv[1]], auth_provider=PlainTextAuthProvider(sys.argv[2], sys.argv[3]))
session = cluster.connect()
owners = cluster.metadata.token_map.token_to_host_owner
out = {
    "driver": cassandra.__version__,
    "protocol": cluster.protocol_version,
    "schema_agreement": cluster.control_connection.wait_for_schema_agreement(),
    "hosts": [{"address": h.address, "host_id": str(h.host_id), "dc": h.datacenter, "rack": h.rack,
               "release": h.release_version, "up": bool(h.is_up),
               "tokens": sum(1 for owner in owners.values() if owner is h)}
              for h in cluster.metadata.all_hosts()],
    "local": session.execute("SELECT release_version FROM system.local").one().release_version,
}
try:
    session.execute("SELECT * FROM ks.t")
    out["refusal"] = "none: the query succeeded"
except Exception as e:  # the driver's InvalidRequest
    out["refusal"] = "%s: %s" % (type(e).__name__, e)
cluster.shutdown()
print(json.dumps(out))
