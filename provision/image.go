package provision

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

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
		if r.cfg.ImageDir == "" {
			// swarmcass's own image over the official one (the infra host
			// pulls cassandra:VERSION while it builds) or over --base-image.
			// A base the build pulls is named in the image's labels, so
			// that down --purge removes it too.
			base := cmp.Or(r.cfg.BaseImage, "cassandra:"+cmp.Or(r.cfg.CassandraVersion, cassandraimage.DefaultVersion))
			if _, err := e.ImageInspect(ctx, base); errors.Is(err, engine.ErrNotFound) {
				labels[engine.LabelPulled] = base
			}
			spec, err := cassandraimage.BuildSpec(r.cfg.CassandraVersion, r.cfg.BaseImage, []string{source}, labels)
			if err != nil {
				return err
			}
			if err := e.ImageBuild(ctx, spec, debugWriter{r.p}); err != nil {
				hint := "the infra host must reach Docker Hub to pull cassandra:" + cmp.Or(r.cfg.CassandraVersion, cassandraimage.DefaultVersion) +
					"; without it, pass --base-image with the offline base (scripts/build-images.sh cassandra), --image REF for an image already there, or --image-dir DIR"
				if r.cfg.BaseImage != "" {
					hint = "the base image " + r.cfg.BaseImage + " must be on " + r.infra.name() +
						" (build it with scripts/build-images.sh cassandra; copy it to a lab machine with swarmcass lab load --machine infra " + r.cfg.BaseImage + ")"
				}
				return op.WithHint(fmt.Errorf("build the Cassandra image on %s: %w", r.infra.name(), err), hint)
			}
		} else if err := build(ctx, e, r.cfg.ImageDir, source, labels, debugWriter{r.p}); err != nil {
			return op.WithHint(fmt.Errorf("build %s on %s: %w", r.cfg.ImageDir, r.infra.name(), err),
				"fix the Dockerfile, or pass --image REF for an image already on the infra host")
		}
	}
	im, err := e.ImageInspect(ctx, source)
	if err != nil {
		return fmt.Errorf("inspect image %s on %s: %w", source, r.infra.name(), err)
	}
	r.imageLabels = im.Labels
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
	return nil
}

// build sends dir as a tar build context to e's ImageBuild.
func build(ctx context.Context, e engine.Engine, dir, tag string, labels engine.Labels, progress io.Writer) error {
	bc := engine.DirContext(dir)
	defer bc.Close()
	return e.ImageBuild(ctx, engine.BuildSpec{Context: bc, Tags: []string{tag}, Labels: labels}, progress)
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
