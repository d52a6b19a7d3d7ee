package cassim

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Identity is what Cassandra keeps in system.local and cassim keeps in
// DataDir/cassim/local.json: it survives restarts on the same volume.
type Identity struct {
	ClusterName  string  `json:"cluster_name"`
	HostID       string  `json:"host_id"`
	Tokens       []int64 `json:"tokens,omitempty"`
	Bootstrapped bool    `json:"bootstrapped"`
	// BootstrapInProgress is system.local's bootstrapped = IN_PROGRESS: a
	// bootstrap began and did not finish (the node died while JOINING).
	BootstrapInProgress bool    `json:"bootstrap_in_progress,omitempty"`
	Load                float64 `json:"load"`
	// Decommissioned is system.local's bootstrapped = DECOMMISSIONED: the
	// node left the ring, and its data does not rejoin it.
	Decommissioned bool `json:"decommissioned,omitempty"`
}

func identityPath(dataDir string) string { return filepath.Join(dataDir, "cassim", "local.json") }

// LoadIdentity reads the saved identity; a missing file gives a zero
// Identity and no error.
func LoadIdentity(dataDir string) (Identity, error) {
	var id Identity
	b, err := os.ReadFile(identityPath(dataDir))
	if errors.Is(err, fs.ErrNotExist) {
		return id, nil
	}
	if err != nil {
		return id, fmt.Errorf("read identity: %w", err)
	}
	if err := json.Unmarshal(b, &id); err != nil {
		return id, fmt.Errorf("read identity %s: %w", identityPath(dataDir), err)
	}
	return id, nil
}

// Save writes the identity atomically.
func (id Identity) Save(dataDir string) error {
	p := identityPath(dataDir)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("save identity: %w", err)
	}
	b, _ := json.MarshalIndent(id, "", "  ")
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("save identity: %w", err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return fmt.Errorf("save identity: %w", err)
	}
	return nil
}

// NewHostID returns a random (version 4) UUID.
func NewHostID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
