package cassim

import (
	"strconv"
	"strings"
	"syscall"
	"testing"
)

func TestDf(t *testing.T) {
	dir := t.TempDir()
	var out, errOut strings.Builder
	if code := DfMain([]string{"-Pk", dir}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	f := strings.Fields(lines[len(lines)-1])
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "Filesystem     1024-blocks") || len(f) != 6 || f[5] != dir {
		t.Fatalf("df output:\n%s", out.String())
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	avail, _ := strconv.ParseUint(f[3], 10, 64)
	want := st.Bavail * uint64(st.Bsize) / 1024
	if diff := int64(avail) - int64(want); diff < -1<<20 || diff > 1<<20 { // within 1 GiB: other writers
		t.Errorf("available %d KiB, statfs says %d", avail, want)
	}
	if code := DfMain([]string{"-Pk", dir + "/nope"}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "no such file") {
		t.Errorf("missing path: exit %d, %q", code, errOut.String())
	}
}
