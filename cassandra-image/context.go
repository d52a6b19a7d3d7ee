// Package cassandraimage carries swarmcass's Cassandra image build context:
// the Dockerfile over the official `cassandra` image, the entrypoint wrapper
// and the health check (see CONTRACT.md), embedded in the binary so that
// `swarmcass bootstrap` can build the image anywhere. It also carries the
// wrapper test image (testimage/), which runs the same wrapper in front of
// stand-ins, and the build context of the offline base image (base/: real
// Cassandra assembled from Maven Central artifacts by scripts/build-images.sh).
package cassandraimage

import (
	"archive/tar"
	"bytes"
	"embed"
	"fmt"
	"io"
	"io/fs"
	"regexp"
	"strings"
	"time"

	"github.com/swarmcass/swarmcass/engine"
)

//go:embed Dockerfile swarmcass-entrypoint.sh swarmcass-healthcheck.sh
var imageFiles embed.FS

//go:embed Dockerfile swarmcass-entrypoint.sh swarmcass-healthcheck.sh testimage base/docker-entrypoint.sh
var testImageFiles embed.FS

// DefaultVersion is the official image tag the Dockerfile builds on unless
// told otherwise (its ARG CASSANDRA_VERSION).
const DefaultVersion = "5.0.8"

// Versions are the Cassandra versions the image and the contract are made
// for, newest first: the 5.0 and 4.1 series of the official image.
var Versions = []string{"5.0", "4.1"}

// ContractVersion is the node contract the image honours; the image carries
// it as the label io.swarmcass.contract.
const ContractVersion = "1"

// WrapperTestDockerfile is the wrapper test image's Dockerfile inside WrapperTestContext.
const WrapperTestDockerfile = "testimage/Dockerfile"

var versionRE = regexp.MustCompile(`^(\d+\.\d+)(\.\d+)?$`)

// CheckVersion accepts an official image tag of a supported series: "5.0",
// "5.0.8", "4.1", "4.1.11".
func CheckVersion(v string) error {
	m := versionRE.FindStringSubmatch(v)
	if m != nil {
		for _, s := range Versions {
			if m[1] == s {
				return nil
			}
		}
	}
	return fmt.Errorf("cassandra version %q is not supported: use a 5.0 or 4.1 tag of the official image, e.g. %s or 4.1.11", v, DefaultVersion)
}

// Context returns the real image's build context as a tar stream.
func Context() (io.Reader, error) { return tarOf(imageFiles) }

// WrapperTestContext returns the build context of the wrapper test image as a tar
// stream; build it with Dockerfile WrapperTestDockerfile.
func WrapperTestContext() (io.Reader, error) { return tarOf(testImageFiles) }

// BuildSpec is the build of the real image, tagged with tags: the wrapper on
// base, an image with the official image's interface (such as the offline
// base, images/cassandra-base/), or when base is empty on the official image
// at tag version ("" means DefaultVersion).
func BuildSpec(version, base string, tags []string, labels engine.Labels) (engine.BuildSpec, error) {
	if version == "" {
		version = DefaultVersion
	}
	if err := CheckVersion(version); err != nil {
		return engine.BuildSpec{}, err
	}
	ctx, err := Context()
	if err != nil {
		return engine.BuildSpec{}, err
	}
	args := map[string]string{"CASSANDRA_VERSION": version}
	if base != "" {
		args["BASE_IMAGE"] = base
	}
	return engine.BuildSpec{Context: ctx, Tags: tags, BuildArgs: args, Labels: labels}, nil
}

// WrapperTestBuildSpec is the build of the wrapper test image, tagged with tags.
func WrapperTestBuildSpec(tags []string, labels engine.Labels) (engine.BuildSpec, error) {
	ctx, err := WrapperTestContext()
	if err != nil {
		return engine.BuildSpec{}, err
	}
	return engine.BuildSpec{Context: ctx, Dockerfile: WrapperTestDockerfile, Tags: tags, Labels: labels}, nil
}

// tarOf writes every file of fsys into a tar stream. Scripts (*.sh and the
// test image's stand-ins) are executable: embed keeps no file modes.
func tarOf(fsys embed.FS) (io.Reader, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	err := fs.WalkDir(fsys, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fsys.ReadFile(path)
		if err != nil {
			return err
		}
		mode := int64(0o644)
		if strings.HasSuffix(path, ".sh") || strings.HasPrefix(path, "testimage/standin/") {
			mode = 0o755
		}
		hdr := &tar.Header{Name: path, Mode: mode, Size: int64(len(data)), ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		_, err = tw.Write(data)
		return err
	})
	if err == nil {
		err = tw.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("cassandra image build context: %w", err)
	}
	return &buf, nil
}
