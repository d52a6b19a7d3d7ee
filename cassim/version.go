package cassim

import "fmt"

// A test image can be made to fail at start the way a node fails after a
// bad upgrade (CASSIM_FAIL_AT_START=1, or the image's build argument of
// that name), so that a rollback can be tested for real: Cassandra that
// meets data files it cannot read stops in its start-up checks with this
// message and exit status 3, before it joins the ring, and leaves its data
// as it was.

// MsgUnreadableSSTables is StartupChecks' refusal of data files from a
// version it cannot read.
func MsgUnreadableSSTables(dataDir string) string {
	return fmt.Sprintf("Detected unreadable sstables %s/data/system/local-7ad54392bcdd35a684174e047860b377/nb-1-big-Data.db, "+
		"please check NEWS.txt and ensure that you have upgraded through all required intermediate versions, running upgradesstables", dataDir)
}

// failAtStart fails the start when the configuration says so.
func (n *Node) failAtStart() error {
	if !n.cfg.FailAtStart {
		return nil
	}
	n.log.Warn("main", "StartupChecks.java:473", "cassim: CASSIM_FAIL_AT_START is set, failing as a broken upgrade does")
	return &StartupError{"org.apache.cassandra.exceptions.StartupException", MsgUnreadableSSTables(n.cfg.DataDir)}
}
