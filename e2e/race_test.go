//go:build race

package e2e

// raceBuild: under go test -race the binary under test is built with the
// race detector too, so the e2e flows check swarmcass itself for races.
const raceBuild = true
