// Package images names the offline images scripts/build-images.sh builds
// here (no image registry is reachable), read from the pins in
// versions.env, so that the scripts and the Go code name the same images.
package images

import (
	_ "embed"
	"strings"
)

//go:embed versions.env
var versions string

// The images, tagged with their pins.
var (
	Machine  = pin("MACHINE_IMAGE")  // a lab machine: Debian with dockerd
	Registry = pin("REGISTRY_IMAGE") // the distribution registry
	Consul   = pin("CONSUL_IMAGE")   // the Consul agent
	// CassandraBase is real Cassandra assembled offline from Maven Central
	// artifacts (images/cassandra-base/), with the official image's interface.
	CassandraBase = pin("CASSANDRA_BASE_IMAGE")
	// CassandraBasePrev is the 5.0 patch release before CassandraBase's,
	// built the same way (scripts/build-images.sh cassandra-prev).
	CassandraBasePrev = pin("CASSANDRA_PREV_BASE_IMAGE")
	// CassandraBase41 is the same for Cassandra 4.1, on Java 11.
	CassandraBase41 = pin("CASSANDRA41_BASE_IMAGE")
)

// CassandraVersion is the Cassandra release the real image runs (the pin
// CASSANDRA_VERSION); cassim reports it as its own. CassandraPrevVersion
// is CassandraBasePrev's, the 5.0 patch release before it.
var (
	CassandraVersion     = pin("CASSANDRA_VERSION")
	CassandraPrevVersion = pin("CASSANDRA_PREV_VERSION")
)

func pin(key string) string {
	for _, line := range strings.Split(versions, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), key+"="); ok {
			return v
		}
	}
	panic("images/versions.env has no " + key)
}
