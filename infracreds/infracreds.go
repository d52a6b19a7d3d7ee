// Package infracreds keeps the credentials of what runs on the infra host:
// Consul's ACL management token and the registry's password. Each lives
// in two places:
//
//   - a 0600 file under the user's swarmcass home, infra/<ADDR>/ in
//     ~/.swarmcass (SWARMCASS_HOME moves it, as it moves the labs), where
//     ADDR is the infra host's address: what every command reads, with no
//     password typed;
//   - a copy in the infra container's own volume (Consul's data, the
//     registry's storage), written and read through the Engine API's
//     archive calls (no shell needed in the image): bootstrap writes it
//     before it uses the credential, so a lost or stale local file is
//     recovered from it by whoever can reach the infra engine, who could
//     read Consul's data or the registry's files anyway.
//
// Why not a Swarm secret: Consul and the registry are plain containers on
// the infra host, which need not be a swarm member (the lab's is not),
// serves every cluster on those hosts, each perhaps its own swarm, and
// exists before any swarm does; and a secret's value cannot be read back
// through the Engine API.
package infracreds

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/swarmcass/swarmcass/consulstore"
	"github.com/swarmcass/swarmcass/engine"
	"github.com/swarmcass/swarmcass/op"
)

// The infra containers, and where their volumes are mounted.
const (
	ConsulContainer   = "swarmcass-consul"
	RegistryContainer = "swarmcass-registry"
	ConsulDataDir     = "/consul/data"
	RegistryDataDir   = "/var/lib/registry"
	// HtpasswdFile is the registry's htpasswd file, under RegistryDataDir.
	HtpasswdFile = "swarmcass/htpasswd"
)

// Kind is one credential: its local file's name and its copy's place.
type Kind struct {
	What      string // for messages
	File      string // the local file's name
	Container string
	Dir       string // a directory that exists in the container (the volume's mount point)
	Name      string // the copy's path under Dir
}

var (
	// ConsulToken is Consul's ACL management token.
	ConsulToken = Kind{What: "Consul's management token", File: "consul-token",
		Container: ConsulContainer, Dir: ConsulDataDir, Name: "swarmcass/management-token"}
	// RegistryPassword is the registry user's password (registry.UserName).
	RegistryPassword = Kind{What: "the registry's password", File: "registry-password",
		Container: RegistryContainer, Dir: RegistryDataDir, Name: "swarmcass/password"}
)

// CopyPath is where the copy is in its container.
func (k Kind) CopyPath() string { return k.Dir + "/" + k.Name }

// Home is swarmcass's directory for the user's own files: SWARMCASS_HOME,
// else ~/.swarmcass.
func Home() (string, error) {
	if h := os.Getenv("SWARMCASS_HOME"); h != "" {
		return h, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", op.WithHint(fmt.Errorf("no home directory for swarmcass's files: %w", err), "set HOME, or SWARMCASS_HOME to a directory of your own")
	}
	return filepath.Join(home, ".swarmcass"), nil
}

// LocalPath is k's local file for the infra host at addr.
func LocalPath(k Kind, addr string) (string, error) {
	home, err := Home()
	if err != nil {
		return "", err
	}
	return filepath.Join(home, "infra", strings.NewReplacer(":", "_", "/", "_").Replace(addr), k.File), nil
}

// ReadLocal reads k's local file; ok is false when there is none. A file
// that exists but cannot be read is an error that says what to do.
func ReadLocal(k Kind, addr string) (value string, ok bool, err error) {
	path, err := LocalPath(k, addr)
	if err != nil {
		return "", false, err
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", false, nil
	}
	if err != nil {
		return "", false, op.WithHint(fmt.Errorf("read %s: %w", k.What, err),
			fmt.Sprintf("make %s readable by you (chmod 600, your own file), or remove it: swarmcass then reads %s back from the %s container on the infra host", path, k.What, k.Container))
	}
	v := strings.TrimSpace(string(b))
	return v, v != "", nil
}

// WriteLocal writes k's local file, 0600 in a 0700 directory, whole or
// not at all.
func WriteLocal(k Kind, addr, value string) error {
	path, err := LocalPath(k, addr)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("keep %s: %w", k.What, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+k.File+"-*")
	if err != nil {
		return fmt.Errorf("keep %s: %w", k.What, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err == nil {
		_, err = tmp.WriteString(value + "\n")
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("keep %s in %s: %w", k.What, path, err)
	}
	return nil
}

// ReadCopy reads k's copy in its container on e; ok is false when the
// container or the copy is not there.
func ReadCopy(ctx context.Context, e engine.Engine, k Kind) (value string, ok bool, err error) {
	b, err := e.ContainerReadFile(ctx, k.Container, k.CopyPath())
	if errors.Is(err, engine.ErrNotFound) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("read %s from container %s: %w", k.What, k.Container, err)
	}
	v := strings.TrimSpace(string(b))
	return v, v != "", nil
}

// WriteCopy writes k's copy into its container on e (0600, root's).
func WriteCopy(ctx context.Context, e engine.Engine, k Kind, value string) error {
	if err := e.ContainerWriteFile(ctx, k.Container, k.Dir, k.Name, []byte(value+"\n"), 0o600); err != nil {
		return fmt.Errorf("keep %s in container %s: %w", k.What, k.Container, err)
	}
	return nil
}

// ConsulTokens is the token every command sends the Consul on the infra
// host at addr (infra's engine e, nil when none could be made): the local
// file's; when there is none, or Consul knows not the one sent, the copy
// in the Consul container, which then replaces the local file. With
// neither, no token: a Consul without ACLs takes that, one with ACLs
// refuses with an error that says what to do. debug hears what was done.
func ConsulTokens(e engine.Engine, addr string, debug func(format string, args ...any)) consulstore.Tokens {
	if debug == nil {
		debug = func(string, ...any) {}
	}
	return func(ctx context.Context, stale string) (string, error) {
		local, ok, err := ReadLocal(ConsulToken, addr)
		if err != nil {
			return "", err
		}
		if ok && local != stale {
			return local, nil
		}
		if e == nil {
			return stale, nil
		}
		copied, ok, err := ReadCopy(ctx, e, ConsulToken)
		if err != nil {
			return "", op.WithHint(err, "swarmcass keeps Consul's token in "+localName(addr)+" and in the "+ConsulContainer+" container on the infra host; re-run bootstrap to set both right")
		}
		if !ok || copied == stale {
			return stale, nil
		}
		if err := WriteLocal(ConsulToken, addr, copied); err != nil {
			debug("consul token: %v", err)
		} else {
			debug("consul token: read back from container %s into %s", ConsulContainer, localName(addr))
		}
		return copied, nil
	}
}

func localName(addr string) string {
	p, err := LocalPath(ConsulToken, addr)
	if err != nil {
		return "~/.swarmcass/infra/" + addr + "/" + ConsulToken.File
	}
	return p
}
