package engine

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"
)

// FileTar is a tar stream of one file, name (slash-separated, relative),
// with a directory entry (mode 0700) for each directory on its way: what
// the archive API extracts under an existing directory. Owned by root.
func FileTar(name string, data []byte, mode os.FileMode) ([]byte, error) {
	name = path.Clean(name)
	if name == "." || strings.HasPrefix(name, "/") || strings.HasPrefix(name, "../") || name == ".." {
		return nil, fmt.Errorf("file name %q: want a relative path inside the directory", name)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	now := time.Now()
	parts := strings.Split(name, "/")
	for i := 1; i < len(parts); i++ {
		dir := strings.Join(parts[:i], "/") + "/"
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir, Mode: 0o700, ModTime: now}); err != nil {
			return nil, err
		}
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: int64(mode.Perm()), Size: int64(len(data)), ModTime: now}); err != nil {
		return nil, err
	}
	if _, err := tw.Write(data); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// maxFile bounds what ReadTarFile reads: these are tokens and passwords.
const maxFile = 1 << 20

// ReadTarFile is the content of the first entry of a tar stream, which must
// be a regular file, as the archive API answers for a file's path.
func ReadTarFile(r io.Reader) ([]byte, error) {
	tr := tar.NewReader(r)
	h, err := tr.Next()
	if errors.Is(err, io.EOF) {
		return nil, errors.New("empty archive")
	}
	if err != nil {
		return nil, err
	}
	if h.Typeflag != tar.TypeReg {
		return nil, fmt.Errorf("%s is not a regular file", h.Name)
	}
	if h.Size > maxFile {
		return nil, fmt.Errorf("%s is %d bytes, more than %d", h.Name, h.Size, maxFile)
	}
	return io.ReadAll(io.LimitReader(tr, maxFile))
}
