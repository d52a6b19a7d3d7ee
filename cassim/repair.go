package cassim

import (
	"crypto/rand"
	"fmt"
	"strings"
	"time"
)

// repair is `nodetool repair [--full] KEYSPACE` of a system keyspace, enough
// for what swarmcass runs after it changes system_auth's replication. cassim
// stores no data: there is nothing to stream, so repair only checks what
// Cassandra checks first and says what it says. With RF 1 in the local
// datacenter Cassandra skips the keyspace (seen on 5.0.8: `Replication
// factor is 1. No repair is needed for keyspace 'system_auth'`); a replica
// down fails the repair (the wording of that failure is cassim's, not yet
// checked against Cassandra).
func (n *Node) repair(args []string) (string, error) {
	ks := ""
	for _, a := range args {
		if !strings.HasPrefix(a, "-") {
			ks = a
			break
		}
	}
	if ks == "" {
		return "", fmt.Errorf("cassim repairs one system keyspace at a time: give its name")
	}
	rf := -1
	n.mu.Lock()
	for _, k := range n.schema.System() { // with their replication as it is now
		if k.Name == ks {
			rf = k.RF(n.cfg.DC)
		}
	}
	n.mu.Unlock()
	if rf < 0 {
		return "", fmt.Errorf("Keyspace [%s] does not exist.", ks)
	}
	stamp := func() string { return "[" + time.Now().Format("2006-01-02 15:04:05,000") + "]" }
	if rf <= 1 {
		return fmt.Sprintf("%s Replication factor is 1. No repair is needed for keyspace '%s'\n", stamp(), ks), nil
	}
	n.mu.Lock()
	var down []string
	for _, p := range n.view.Peers() {
		if p.Status == StatusNormal && !p.Up {
			down = append(down, "/"+p.Addr+":7000")
		}
	}
	n.mu.Unlock()
	id := make([]byte, 16)
	rand.Read(id)
	uuid := fmt.Sprintf("%x-%x-%x-%x-%x", id[0:4], id[4:6], id[6:8], id[8:10], id[10:16])
	var b strings.Builder
	fmt.Fprintf(&b, "%s Starting repair command #1 (%s), repairing keyspace %s with repair options (parallelism: parallel, primary range: false, incremental: false, job threads: 1, ColumnFamilies: [], dataCenters: [], hosts: [], previewKind: NONE, pull repair: false, force repair: false, optimise streams: false, ignore unreplicated keyspaces: false, repairPaxos: true, paxosOnly: false)\n", stamp(), uuid, ks)
	if len(down) > 0 {
		return "", fmt.Errorf("Repair command #1 failed with error Endpoint not alive: %s", down[0])
	}
	fmt.Fprintf(&b, "%s Repair completed successfully\n%s Repair command #1 finished in 0 seconds\n", stamp(), stamp())
	return b.String(), nil
}
