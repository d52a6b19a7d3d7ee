// Connects to a cassim ring with the Node.js driver's defaults (and the
// localDataCenter it requires) and prints, as JSON, what the driver learned.
// Run by TestIntegrationDrivers (cassim/drivers_integration_test.go).
const cassandra = require('cassandra-driver');

(async () => {
  const client = new cassandra.Client({ contactPoints: [process.argv[2]], localDataCenter: 'datacenter1',
    authProvider: new cassandra.auth.PlainTextAuthProvider(process.argv[3], process.argv[4]) });
  await client.connect();
  const out = {
    driver: require('cassandra-driver/package.json').version,
    protocol: client.controlConnection.protocolVersion,
    schema_agreement: await client.metadata.checkSchemaAgreement(),
    hosts: client.hosts.values().map(h => ({
      address: h.address.replace(/:\d+$/, ''), host_id: h.hostId.toString(), dc: h.datacenter, rack: h.rack,
      release: h.cassandraVersion, up: h.isUp(), tokens: h.tokens.length,
    })),
    local: (await client.execute('SELECT release_version FROM system.local')).first().release_version,
  };
  try {
    await client.execute('SELECT * FROM ks.t');
    out.refusal = 'none: the query succeeded';
  } catch (e) {
    out.refusal = `${e.name} (code=${e.code}): ${e.message}`;
  }
  await client.shutdown();
  console.log(JSON.stringify(out));
})().catch(e => { console.error(e); process.exit(1); });
