package cassim

import (
	"fmt"
	"io"
	"syscall"
)

// DfMain is df for the cassim image, which has no coreutils: `df -Pk
// PATH...` prints, in POSIX format with 1024-byte blocks, the real space of
// the filesystem each path is on (statfs), as coreutils' df does, so that
// a provisioner's free-disk check reads the machine's real numbers. The
// filesystem column is "-": cassim does not read the mount table. Other
// options are ignored; the output is always -P -k.
func DfMain(args []string, stdout, stderr io.Writer) int {
	var paths []string
	for _, a := range args {
		if len(a) > 0 && a[0] != '-' {
			paths = append(paths, a)
		}
	}
	if len(paths) == 0 {
		paths = []string{"/"}
	}
	fmt.Fprintln(stdout, "Filesystem     1024-blocks      Used Available Capacity Mounted on")
	code := 0
	for _, p := range paths {
		var st syscall.Statfs_t
		if err := syscall.Statfs(p, &st); err != nil {
			fmt.Fprintf(stderr, "df: %s: %v\n", p, err)
			code = 1
			continue
		}
		bs := uint64(st.Bsize)
		total, free, avail := st.Blocks*bs/1024, st.Bfree*bs/1024, st.Bavail*bs/1024
		used := total - free
		capacity := uint64(0)
		if used+avail > 0 {
			capacity = (used*100 + used + avail - 1) / (used + avail) // rounded up, as df does
		}
		fmt.Fprintf(stdout, "%-14s %11d %9d %9d %7d%% %s\n", "-", total, used, avail, capacity, p)
	}
	return code
}
