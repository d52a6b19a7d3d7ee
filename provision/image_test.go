package provision

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/swarmcass/swarmcass/engine"
	"github.com/swarmcass/swarmcass/engine/enginetest"
)

func TestFromImages(t *testing.T) {
	for _, c := range []struct {
		dockerfile string
		want       []string
		ok         bool
	}{
		{"FROM scratch\nCOPY a /\n", nil, true},
		{"FROM debian:bookworm AS build\nRUN x\nFROM build\nFROM --platform=linux/amd64 alpine:3\n", []string{"debian:bookworm", "alpine:3"}, true},
		{"ARG BASE_IMAGE=cassandra:5.0.8\nFROM ${BASE_IMAGE}\n", nil, false},
		{"from busybox\n", []string{"busybox"}, true},
	} {
		got, ok := fromImages(c.dockerfile)
		if ok != c.ok || !slices.Equal(got, c.want) {
			t.Errorf("fromImages(%q) = %q, %v; want %q, %v", c.dockerfile, got, ok, c.want, c.ok)
		}
	}
}

// tarOf is a build context of files name -> content, with the given
// modification time.
func tarOf(t *testing.T, mtime int64, files ...string) io.Reader {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for i := 0; i < len(files); i += 2 {
		hdr := &tar.Header{Name: files[i], Mode: 0o644, Size: int64(len(files[i+1])), Typeflag: tar.TypeReg}
		hdr.ModTime = time.Unix(mtime*86400, 0)
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(files[i+1])); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return &buf
}

// The build key changes with a file's content, a build argument and the
// base image's ID, not with file times; a base the engine lacks gives no
// key (the build must run and pull it); the context stays readable.
func TestBuildKey(t *testing.T) {
	ctx := context.Background()
	w := enginetest.NewWorld()
	e := w.NewFake("infra", "10.0.0.2")
	key := func(mtime int64, content string, args map[string]string, bases []string) string {
		t.Helper()
		spec := engine.BuildSpec{Context: tarOf(t, mtime, "Dockerfile", "FROM scratch\n", "f", content), BuildArgs: args}
		k, err := buildKey(ctx, e, &spec, bases)
		if err != nil {
			t.Fatal(err)
		}
		rest, err := io.ReadAll(spec.Context)
		if err != nil || len(rest) == 0 {
			t.Fatalf("context after buildKey: %d bytes, %v", len(rest), err)
		}
		return k
	}
	base := key(0, "a", nil, nil)
	if base == "" {
		t.Fatal("no key for a FROM scratch context")
	}
	if key(5, "a", nil, nil) != base {
		t.Error("key changed with the files' times")
	}
	if key(0, "b", nil, nil) == base {
		t.Error("key unchanged after a file changed")
	}
	if key(0, "a", map[string]string{"X": "1"}, nil) == base {
		t.Error("key unchanged after a build argument changed")
	}
	if k := key(0, "a", nil, []string{"base:1"}); k != "" {
		t.Errorf("key %q for a base the engine has not got", k)
	}
	buildBase := func(content string) {
		t.Helper()
		spec := engine.BuildSpec{Context: tarOf(t, 0, "Dockerfile", "FROM scratch\n", "g", content), Tags: []string{"base:1"}}
		if err := e.ImageBuild(ctx, spec, nil); err != nil {
			t.Fatal(err)
		}
	}
	buildBase("one")
	one := key(0, "a", nil, []string{"base:1"})
	buildBase("two")
	if two := key(0, "a", nil, []string{"base:1"}); one == "" || two == "" || one == two {
		t.Errorf("keys %q and %q over two IDs of the base", one, two)
	}
}
