package provision

import (
	"archive/tar"
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	cassandraimage "github.com/swarmcass/swarmcass/cassandra-image"
	"github.com/swarmcass/swarmcass/engine"
	"github.com/swarmcass/swarmcass/op"
	"github.com/swarmcass/swarmcass/registry"
)

// ensureImage builds the Cassandra image on the infra engine from the image
// dir (or takes --image), tags it for the registry, pushes it and pins the
// digest: every node runs exactly these bits. The push goes to the
// registry through loopback, which every engine trusts, as the registry's
// user (infrasecure.go); nodes pull the same digest from the registry's
// address (through loopback too when one engine plays every role), with
// the same credentials given to their services.
func ensureImage(ctx context.Context, r *run) error {
	e := r.infra.Engine
	source := r.cfg.Image
	if source == "" {
		source = "swarmcass/cassandra:" + r.cfg.Cluster
		labels := r.labels(engine.RoleCassandra, "")
		var spec engine.BuildSpec
		var bases []string // the images it builds FROM, when known
		if r.cfg.ImageDir == "" {
			// swarmcass's own image over the official one (the infra host
			// pulls cassandra:VERSION while it builds) or over --base-image.
			// A base the build pulls is named in the image's labels, so
			// that down --purge removes it too; kept on a rebuild once the
			// base is there, so that the build's hash (which covers the
			// labels) stays the same.
			base := cmp.Or(r.cfg.BaseImage, "cassandra:"+cmp.Or(r.cfg.CassandraVersion, cassandraimage.DefaultVersion))
			if _, err := e.ImageInspect(ctx, base); errors.Is(err, engine.ErrNotFound) {
				labels[engine.LabelPulled] = base
			} else if im, err := e.ImageInspect(ctx, source); err == nil && im.Labels[engine.LabelPulled] == base {
				labels[engine.LabelPulled] = base
			}
			var err error
			if spec, err = cassandraimage.BuildSpec(r.cfg.CassandraVersion, r.cfg.BaseImage, []string{source}, labels); err != nil {
				return err
			}
			bases = []string{cmp.Or(r.cfg.BaseImage, "cassandra:"+cmp.Or(r.cfg.CassandraVersion, cassandraimage.DefaultVersion))}
		} else {
			bc := engine.DirContext(r.cfg.ImageDir)
			defer bc.Close()
			spec = engine.BuildSpec{Context: bc, Tags: []string{source}, Labels: labels}
		}
		key, err := buildKey(ctx, e, &spec, bases)
		if err != nil {
			return op.WithHint(fmt.Errorf("read the build context of %s: %w", cmp.Or(r.cfg.ImageDir, "the Cassandra image"), err),
				"fix the Dockerfile, or pass --image REF for an image already on the infra host")
		}
		if key != "" {
			labels[engine.LabelBuild] = key
		}
		if im, err := e.ImageInspect(ctx, source); key != "" && err == nil && im.Labels[engine.LabelBuild] == key {
			r.p.Debugf("image %s was built from this same context and base (%s %s): not built again", source, engine.LabelBuild, key[:12])
		} else if err := e.ImageBuild(ctx, spec, debugWriter{r.p}); err != nil {
			if r.cfg.ImageDir != "" {
				return op.WithHint(fmt.Errorf("build %s on %s: %w", r.cfg.ImageDir, r.infra.name(), err),
					"fix the Dockerfile, or pass --image REF for an image already on the infra host")
			}
			hint := "the infra host must reach Docker Hub to pull cassandra:" + cmp.Or(r.cfg.CassandraVersion, cassandraimage.DefaultVersion) +
				"; without it, pass --base-image with the offline base (scripts/build-images.sh cassandra), --image REF for an image already there, or --image-dir DIR"
			if r.cfg.BaseImage != "" {
				hint = "the base image " + r.cfg.BaseImage + " must be on " + r.infra.name() +
					" (build it with scripts/build-images.sh cassandra; copy it to a lab machine with swarmcass lab load --machine infra " + r.cfg.BaseImage + ")"
			}
			return op.WithHint(fmt.Errorf("build the Cassandra image on %s: %w", r.infra.name(), err), hint)
		}
	}
	im, err := e.ImageInspect(ctx, source)
	if err != nil {
		return fmt.Errorf("inspect image %s on %s: %w", source, r.infra.name(), err)
	}
	r.imageLabels = im.Labels
	if digest, ok := r.inRegistry(ctx, im); ok {
		r.res.Image = registry.DigestRef(r.pull, ImageRepo, digest)
		r.p.Debugf("image %s is %s, in the registry already: not pushed again", source, r.res.Image)
		r.prePull(ctx)
		return nil
	}
	tag := strings.TrimPrefix(im.ID, "sha256:")
	if len(tag) > 12 {
		tag = tag[:12]
	}
	pushed, err := registry.Push(ctx, e, im.ID, registry.Addr("127.0.0.1"), ImageRepo, tag, r.registryUser, debugWriter{r.p})
	if err != nil {
		return op.WithHint(err, "check that the registry container "+RegistryContainer+" runs on "+r.infra.name())
	}
	_, digest, _ := registry.SplitDigest(pushed)
	r.res.Image = registry.DigestRef(r.pull, ImageRepo, digest)
	r.p.Debugf("image %s is %s", source, r.res.Image)
	r.prePull(ctx)
	return nil
}

// prePull has every swarm host that lacks the nodes' image pull it, all
// at once, so that nodes started one after another do not each wait for
// their host's pull in turn. A pull that fails is only said: Swarm pulls
// again when it starts the node, and reports what fails then.
func (r *run) prePull(ctx context.Context) {
	ref := r.res.Image
	var wg sync.WaitGroup
	for _, h := range r.swarm {
		wg.Go(func() {
			if _, err := h.Engine.ImageInspect(ctx, ref); !errors.Is(err, engine.ErrNotFound) {
				return // there already, or the engine will say why when the node starts
			}
			t0 := time.Now()
			if err := h.Engine.ImagePull(ctx, ref, r.pullAuth(ref), nil); err != nil {
				r.p.Debugf("pull %s on %s ahead of its nodes: %v (Swarm pulls it when it starts them)", ref, h.name(), err)
				return
			}
			r.p.Debugf("%s pulled the nodes' image in %.1fs", h.name(), time.Since(t0).Seconds())
		})
	}
	wg.Wait()
}

// inRegistry is the digest under which im was pushed to the infra
// registry before (the engine keeps it among the image's RepoDigests),
// when the registry still holds it: then there is nothing to push.
func (r *run) inRegistry(ctx context.Context, im engine.Image) (string, bool) {
	prefix := registry.Addr("127.0.0.1") + "/" + ImageRepo + "@"
	for _, rd := range im.RepoDigests {
		digest, ok := strings.CutPrefix(rd, prefix)
		if !ok || !registry.ValidDigest(digest) {
			continue
		}
		has, err := r.cfg.Remote.RegistryHas(ctx, r.res.Registry, r.registryUser, ImageRepo, digest)
		if err != nil {
			r.p.Debugf("registry %s: %v: pushing", r.res.Registry, err)
			return "", false
		}
		if has {
			return digest, true
		}
	}
	return "", false
}

// buildKey is a hash of everything the build of spec depends on: the
// files of its context (names, modes, links and contents, not times), its
// Dockerfile path, build arguments and labels, and the ID each image it
// builds FROM has on e (bases, or the Dockerfile's FROM lines when bases
// is nil). It is "" when a base is not known (a FROM naming a variable, or
// an image e has not got yet, which the build pulls): such a build always
// runs. spec.Context is read and replaced by the same bytes.
func buildKey(ctx context.Context, e engine.Engine, spec *engine.BuildSpec, bases []string) (string, error) {
	data, err := io.ReadAll(spec.Context)
	if err != nil {
		return "", err
	}
	spec.Context = bytes.NewReader(data)
	dockerfile := cmp.Or(spec.Dockerfile, "Dockerfile")
	h := sha256.New()
	fmt.Fprintf(h, "dockerfile %q\n", dockerfile)
	tr := tar.NewReader(bytes.NewReader(data))
	var df []byte
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "file %q %o %d %q %d\n", hdr.Name, hdr.Mode, hdr.Typeflag, hdr.Linkname, hdr.Size)
		var content bytes.Buffer
		if _, err := io.Copy(io.MultiWriter(h, &content), tr); err != nil {
			return "", err
		}
		if strings.TrimPrefix(hdr.Name, "./") == dockerfile {
			df = content.Bytes()
		}
	}
	for _, k := range slices.Sorted(maps.Keys(spec.BuildArgs)) {
		fmt.Fprintf(h, "arg %q %q\n", k, spec.BuildArgs[k])
	}
	for _, k := range slices.Sorted(maps.Keys(spec.Labels)) {
		fmt.Fprintf(h, "label %q %q\n", k, spec.Labels[k])
	}
	if bases == nil {
		var ok bool
		if bases, ok = fromImages(string(df)); !ok {
			return "", nil
		}
	}
	for _, b := range bases {
		im, err := e.ImageInspect(ctx, b)
		if err != nil {
			return "", nil // not there yet, or not known: build
		}
		fmt.Fprintf(h, "from %q %s\n", b, im.ID)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// fromImages are the images a Dockerfile builds FROM, leaving out scratch
// and its own stages; ok is false when one names a variable.
func fromImages(dockerfile string) (images []string, ok bool) {
	stages := map[string]bool{}
	for line := range strings.SplitSeq(dockerfile, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || !strings.EqualFold(f[0], "FROM") {
			continue
		}
		f = slices.DeleteFunc(f[1:], func(s string) bool { return strings.HasPrefix(s, "--") })
		if len(f) == 0 || strings.Contains(f[0], "$") {
			return nil, false
		}
		if f[0] != "scratch" && !stages[strings.ToLower(f[0])] {
			images = append(images, f[0])
		}
		if len(f) >= 3 && strings.EqualFold(f[1], "AS") {
			stages[strings.ToLower(f[2])] = true
		}
	}
	return images, true
}

// debugWriter sends build and push progress to Progress.Debugf, a line at a time.
type debugWriter struct{ p op.Progress }

func (d debugWriter) Write(b []byte) (int, error) {
	for line := range strings.SplitSeq(string(b), "\n") {
		if strings.TrimSpace(line) != "" {
			d.p.Debugf("  %s", line)
		}
	}
	return len(b), nil
}
