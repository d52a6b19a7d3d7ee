package engine_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/swarmcass/swarmcass/engine"
	"github.com/swarmcass/swarmcass/engine/enginetest"
	"github.com/swarmcass/swarmcass/images"
)

func suffix() string {
	b := make([]byte, 4)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// testImage is the lab machine image: built offline by scripts/build-images.sh.
var testImage = images.Machine

func TestIntegrationDockerContainerLifecycle(t *testing.T) {
	d := enginetest.Local(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	info, err := d.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.ID == "" || info.MemTotal <= 0 || info.APIVersion < engine.MinAPIVersion {
		t.Fatalf("info = %+v", info)
	}

	id := suffix()
	labels := engine.Labels{"swarmcass.test": id}
	// Subnets of their own: 10.240-241.x is used by no other test here.
	b := make([]byte, 1)
	rand.Read(b)
	sub1, sub1Host := fmt.Sprintf("10.240.%d.0/24", b[0]), fmt.Sprintf("10.240.%d.9", b[0])
	sub2, sub2Prefix := fmt.Sprintf("10.241.%d.0/24", b[0]), fmt.Sprintf("10.241.%d.", b[0])
	net := "swarmcass-test-" + id
	if _, err := d.NetworkCreate(ctx, engine.NetworkSpec{Name: net, Driver: "bridge", Subnet: sub1, Labels: labels}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.NetworkRemove(context.Background(), net) })
	if _, err := d.NetworkCreate(ctx, engine.NetworkSpec{Name: net, Driver: "bridge", Labels: labels}); !errors.Is(err, engine.ErrConflict) {
		t.Errorf("second create of %s: err = %v, want ErrConflict", net, err)
	}
	n, err := d.NetworkInspect(ctx, net)
	if err != nil || n.Driver != "bridge" || len(n.Subnets) != 1 || n.Subnets[0] != sub1 {
		t.Fatalf("network = %+v, %v", n, err)
	}

	// A second network, created before the container so that its cleanup
	// runs after the container's (a network in use cannot be removed).
	net2 := net + "-2"
	if _, err := d.NetworkCreate(ctx, engine.NetworkSpec{Name: net2, Driver: "bridge", Subnet: sub2, Labels: labels}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.NetworkRemove(context.Background(), net2) })

	vol := "swarmcass-test-" + id
	if err := d.VolumeCreate(ctx, vol, labels); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.VolumeRemove(context.Background(), vol) })

	name := "swarmcass-test-" + id
	cid, err := d.ContainerCreate(ctx, engine.ContainerSpec{
		Name: name, Image: testImage, Cmd: []string{"sh", "-c", "echo hello-out; echo hello-err >&2; exec sleep 300"},
		Labels: labels, Network: net, IPAddress: sub1Host,
		Mounts: []engine.Mount{{Source: vol, Target: "/data"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.ContainerRemove(context.Background(), cid) })
	if err := d.ContainerStart(ctx, cid); err != nil {
		t.Fatal(err)
	}

	if err := d.NetworkConnect(ctx, net2, cid, []string{"alias-" + id}); err != nil {
		t.Fatal(err)
	}
	c, err := d.ContainerInspect(ctx, name)
	if err != nil || !c.Running || c.Networks[net] != sub1Host || c.Labels["swarmcass.test"] != id ||
		!strings.HasPrefix(c.Networks[net2], sub2Prefix) {
		t.Fatalf("inspect = %+v, %v", c, err)
	}
	list, err := d.ContainerList(ctx, labels)
	if err != nil || len(list) != 1 || list[0].Name != name {
		t.Fatalf("list by label = %+v, %v", list, err)
	}

	res, err := d.Exec(ctx, cid, []string{"sh", "-c", "echo out; echo err >&2; touch /data/x; exit 3"})
	if err != nil || res.Stdout != "out\n" || res.Stderr != "err\n" || res.ExitCode != 3 {
		t.Fatalf("exec = %+v, %v", res, err)
	}

	var logs string
	for i := 0; i < 50 && !strings.Contains(logs, "hello-err"); i++ {
		logs, _ = d.ContainerLogs(ctx, cid, 10)
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(logs, "hello-out") || !strings.Contains(logs, "hello-err") {
		t.Errorf("logs = %q", logs)
	}

	if _, err := d.ContainerInspect(ctx, "swarmcass-no-such-"+id); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("inspect missing: err = %v, want ErrNotFound", err)
	}
	if _, err := d.ServiceList(ctx, labels); err == nil {
		t.Log("engine is in a swarm; service calls answer")
	}
}

func TestIntegrationDockerBuildFailsOnStreamError(t *testing.T) {
	d := enginetest.Local(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tag := "swarmcass-test/build:" + suffix()

	good := tarOf(t, map[string]string{"Dockerfile": "FROM " + testImage + "\nRUN echo built > /built\n"})
	var progress bytes.Buffer
	if err := d.ImageBuild(ctx, engine.BuildSpec{Context: good, Tags: []string{tag}, Labels: engine.Labels{"swarmcass.test": "1"}}, &progress); err != nil {
		t.Fatalf("build: %v\n%s", err, progress.String())
	}
	t.Cleanup(func() { enginetest.RemoveImage(t, tag) })
	img, err := d.ImageInspect(ctx, tag)
	if err != nil || img.Labels["swarmcass.test"] != "1" {
		t.Fatalf("image = %+v, %v", img, err)
	}

	// The engine answers 200 and reports the failing RUN inside the stream.
	bad := tarOf(t, map[string]string{"Dockerfile": "FROM " + testImage + "\nRUN exit 7\n"})
	err = d.ImageBuild(ctx, engine.BuildSpec{Context: bad, Tags: []string{tag + "-bad"}}, nil)
	if err == nil || !strings.Contains(err.Error(), "7") {
		t.Fatalf("failing build: err = %v, want the RUN's failure", err)
	}
}

func tarOf(t *testing.T, files map[string]string) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, body := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body))}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(body))
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return &buf
}

// Push to a registry container and pull back through it: the streams are
// read to their end and a pull of a missing tag fails.
func TestIntegrationDockerPushPull(t *testing.T) {
	d := enginetest.Local(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	id := suffix()
	labels := engine.Labels{"swarmcass.test": id}
	b := make([]byte, 1)
	rand.Read(b)
	port := 15000 + int(b[0])
	cid, err := d.ContainerCreate(ctx, engine.ContainerSpec{
		Name: "swarmcass-test-registry-" + id, Image: images.Registry, Labels: labels,
		Ports: []engine.PortBinding{{HostIP: "127.0.0.1", HostPort: port, ContainerPort: 5000}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.ContainerRemove(context.Background(), cid) })
	if err := d.ContainerStart(ctx, cid); err != nil {
		t.Fatal(err)
	}
	tag := fmt.Sprintf("127.0.0.1:%d/swarmcass-test/tiny:%s", port, id)
	if err := d.ImageBuild(ctx, engine.BuildSpec{Context: tarOf(t, map[string]string{"Dockerfile": "FROM scratch\nCOPY f /f\n", "f": id}), Tags: []string{tag}}, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { enginetest.RemoveImage(t, tag) })
	var digest string
	for i := 0; i < 50; i++ { // the registry takes a moment to listen
		if digest, err = d.ImagePush(ctx, tag, nil, nil); err == nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil || !strings.HasPrefix(digest, "sha256:") {
		t.Fatalf("push: %q, %v", digest, err)
	}
	if err := d.ImagePull(ctx, tag, nil, nil); err != nil {
		t.Fatalf("pull: %v", err)
	}
	if err := d.ImagePull(ctx, tag+"-missing", nil, nil); err == nil {
		t.Error("pull of a missing tag succeeded")
	}
}

func TestIntegrationDockerTrace(t *testing.T) {
	host := enginetest.Local(t).Host() // skips under -short
	var mu sync.Mutex
	var lines []string
	d, err := engine.NewDocker("traced", host, nil, engine.WithTrace(func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		lines = append(lines, fmt.Sprintf(format, args...))
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.Info(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	found := false
	for _, l := range lines {
		found = found || strings.HasPrefix(l, "traced: GET /") && strings.HasSuffix(l, "/info -> 200")
	}
	if !found {
		t.Errorf("trace = %q, want the GET of /info", lines)
	}
}

// ExecStream attaches stdin and a terminal, and ContainerLogsStream
// follows until its context ends.
func TestIntegrationDockerExecStream(t *testing.T) {
	d := enginetest.Local(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	id := suffix()
	cid, err := d.ContainerCreate(ctx, engine.ContainerSpec{
		Name: "swarmcass-test-" + id, Image: testImage, Labels: engine.Labels{"swarmcass.test": id},
		Cmd: []string{"sh", "-c", "echo first; echo second >&2; exec sleep 300"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.ContainerRemove(context.Background(), cid) })
	if err := d.ContainerStart(ctx, cid); err != nil {
		t.Fatal(err)
	}

	var out, errOut bytes.Buffer
	code, err := d.ExecStream(ctx, cid, []string{"sh", "-c", "cat; echo err >&2; exit 4"},
		engine.ExecIO{Stdin: strings.NewReader("from stdin\n"), Stdout: &out, Stderr: &errOut})
	if err != nil || code != 4 || out.String() != "from stdin\n" || errOut.String() != "err\n" {
		t.Errorf("exec with stdin: exit %d, %v, stdout %q, stderr %q", code, err, out.String(), errOut.String())
	}
	out.Reset()
	code, err = d.ExecStream(ctx, cid, []string{"sh", "-c", "tty; sleep 1; stty size"},
		engine.ExecIO{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &out, TTY: true, Width: 91, Height: 27})
	if err != nil || code != 0 || !strings.Contains(out.String(), "/dev/pts/") || !strings.Contains(out.String(), "27 91") {
		t.Errorf("exec with a terminal: exit %d, %v, output %q", code, err, out.String())
	}

	out.Reset()
	errOut.Reset()
	for i := 0; i < 50 && !strings.Contains(errOut.String(), "second"); i++ {
		out.Reset()
		errOut.Reset()
		if err := d.ContainerLogsStream(ctx, cid, -1, false, &out, &errOut); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if out.String() != "first\n" || errOut.String() != "second\n" {
		t.Errorf("logs: stdout %q, stderr %q", out.String(), errOut.String())
	}
	fctx, fcancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer fcancel()
	start := time.Now()
	if err := d.ContainerLogsStream(fctx, cid, 1, true, &out, &errOut); !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 10*time.Second {
		t.Errorf("follow: %v after %s, want it to follow until its context ends", err, time.Since(start))
	}
}

// Files in and out of a container through the archive API, as swarmcass
// keeps credentials in the infra containers' volumes: into a container
// that was created but never started (the registry before its first
// start), into its volume, read back after the container is recreated on
// that volume; a file that is not there is ErrNotFound. The image is
// FROM scratch: no shell is needed.
func TestIntegrationDockerContainerFiles(t *testing.T) {
	d := enginetest.Local(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	id := suffix()
	labels := engine.Labels{"swarmcass.test": id}
	volume := "swarmcass-test-files-" + id
	if err := d.VolumeCreate(ctx, volume, labels); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.VolumeRemove(context.Background(), volume) })
	spec := engine.ContainerSpec{Name: "swarmcass-test-files-" + id, Image: images.Registry, Labels: labels,
		Mounts: []engine.Mount{{Type: "volume", Source: volume, Target: "/var/lib/registry"}}}
	create := func() string {
		cid, err := d.ContainerCreate(ctx, spec)
		if err != nil {
			t.Fatalf("%v (scripts/build-images.sh builds %s)", err, images.Registry)
		}
		t.Cleanup(func() { d.ContainerRemove(context.Background(), cid) })
		return cid
	}
	cid := create()
	if err := d.ContainerWriteFile(ctx, cid, "/var/lib/registry", "swarmcass/password", []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := d.ContainerReadFile(ctx, cid, "/var/lib/registry/swarmcass/password"); err != nil || string(b) != "s3cret\n" {
		t.Fatalf("read back: %q, %v", b, err)
	}
	if _, err := d.ContainerReadFile(ctx, cid, "/var/lib/registry/swarmcass/none"); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("a missing file: %v, want ErrNotFound", err)
	}
	if err := d.ContainerRemove(ctx, cid); err != nil {
		t.Fatal(err)
	}
	cid = create()
	if b, err := d.ContainerReadFile(ctx, cid, "/var/lib/registry/swarmcass/password"); err != nil || string(b) != "s3cret\n" {
		t.Errorf("after the container was recreated on its volume: %q, %v", b, err)
	}
}
