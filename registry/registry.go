// Package registry is what swarmcass needs of the image registry it runs on
// the infra host: its address, a check that it answers, image references by
// tag and by digest, whether an engine will pull from it over plain HTTP,
// and a push through an engine.
package registry

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/swarmcass/swarmcass/engine"
)

// Port is the port the registry publishes on the infra host.
const Port = 5000

// Addr is the registry's host:port on the infra host reached at host.
func Addr(host string) string { return net.JoinHostPort(host, strconv.Itoa(Port)) }

// Ping checks that the registry at addr (host:port) answers GET /v2/ over
// plain HTTP as a distribution registry does: 200, or 401 when it wants
// credentials, with the Docker-Distribution-Api-Version header. With user
// set, only 200 will do: the registry must take user's credentials.
func Ping(ctx context.Context, addr string, user *User) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/v2/", nil)
	if err != nil {
		return fmt.Errorf("registry %s: %w", addr, err)
	}
	if user != nil {
		req.SetBasicAuth(user.Name, user.Password)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("registry %s: %w", addr, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusUnauthorized {
		return fmt.Errorf("registry %s: GET /v2/ answered %s", addr, resp.Status)
	}
	if user != nil && resp.StatusCode == http.StatusUnauthorized {
		return fmt.Errorf("registry %s: GET /v2/ as %s answered %s: %w", addr, user.Name, resp.Status, ErrUnauthorized)
	}
	if v := resp.Header.Get("Docker-Distribution-Api-Version"); !strings.HasPrefix(v, "registry/2") {
		return fmt.Errorf("registry %s: GET /v2/ answered without Docker-Distribution-Api-Version: is it a registry?", addr)
	}
	return nil
}

// WantsAuth reports whether the registry at addr (host:port) answers GET
// /v2/ without credentials with 401, as one with htpasswd auth does.
func WantsAuth(ctx context.Context, addr string) (bool, error) {
	resp, err := ask(ctx, http.MethodGet, addr, "/v2/", nil, "")
	if err != nil {
		return false, err
	}
	switch resp.StatusCode {
	case http.StatusOK:
		return false, nil
	case http.StatusUnauthorized:
		return true, nil
	}
	return false, fmt.Errorf("registry %s: GET /v2/ answered %s", addr, resp.Status)
}

// manifestTypes are the manifest media types a pull accepts.
const manifestTypes = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.index.v1+json"

// HasManifest reports whether the registry at addr (host:port) holds the
// manifest repo@digest: HEAD /v2/REPO/manifests/DIGEST answers 200 (404:
// it does not, as after the registry lost its volume). With user set, the
// request sends user's credentials.
func HasManifest(ctx context.Context, addr string, user *User, repo, digest string) (bool, error) {
	resp, err := ask(ctx, http.MethodHead, addr, "/v2/"+repo+"/manifests/"+digest, user, manifestTypes)
	if err != nil {
		return false, err
	}
	switch resp.StatusCode {
	case http.StatusOK:
		return true, nil
	case http.StatusNotFound:
		return false, nil
	}
	return false, fmt.Errorf("registry %s: HEAD %s@%s answered %s", addr, repo, digest, resp.Status)
}

// ask sends one request to the registry at addr over plain HTTP, with
// user's credentials when user is set and accept as its Accept header
// when not empty, within 5 s; the body is read and closed.
func ask(ctx context.Context, method, addr, path string, user *User, accept string) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, "http://"+addr+path, nil)
	if err != nil {
		return nil, fmt.Errorf("registry %s: %w", addr, err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	if user != nil {
		req.SetBasicAuth(user.Name, user.Password)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("registry %s: %w", addr, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return resp, nil
}

var digestRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// ValidDigest reports whether d is a sha256 content digest.
func ValidDigest(d string) bool { return digestRE.MatchString(d) }

// Ref is registry/repo:tag.
func Ref(registry, repo, tag string) string { return registry + "/" + repo + ":" + tag }

// DigestRef is registry/repo@digest: the reference that pins content.
func DigestRef(registry, repo, digest string) string { return registry + "/" + repo + "@" + digest }

// SplitDigest splits name@sha256:... into name and digest.
func SplitDigest(ref string) (name, digest string, ok bool) {
	name, digest, ok = strings.Cut(ref, "@")
	if !ok || !ValidDigest(digest) {
		return "", "", false
	}
	return name, digest, true
}

// Push tags source (a reference or image ID on e) as registry/repo:tag,
// pushes it through e and returns the pinned reference registry/repo@digest.
// With user set, the push sends user's credentials for registry.
func Push(ctx context.Context, e engine.Engine, source, registry, repo, tag string, user *User, progress io.Writer) (string, error) {
	target := Ref(registry, repo, tag)
	if err := e.ImageTag(ctx, source, target); err != nil {
		return "", fmt.Errorf("tag %s as %s: %w", source, target, err)
	}
	digest, err := e.ImagePush(ctx, target, user.Auth(registry), progress)
	if err != nil {
		return "", fmt.Errorf("push %s: %w", target, err)
	}
	if !ValidDigest(digest) {
		return "", fmt.Errorf("push %s: the engine reported digest %q, not sha256:<64 hex>", target, digest)
	}
	return DigestRef(registry, repo, digest), nil
}

// ErrUnauthorized: the registry refused the credentials given.
var ErrUnauthorized = errors.New("credentials refused")

// UserName is the one user of the infra registry: swarmcass itself.
const UserName = "swarmcass"

// User is a registry user and its password; a nil *User sends none.
type User struct {
	Name, Password string
	matched        string // a hash In found to match, to skip bcrypt's cost next time
}

// NewUser is UserName with a new random password (128 bits, hex).
func NewUser() (*User, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("registry password: %w", err)
	}
	return &User{Name: UserName, Password: hex.EncodeToString(b)}, nil
}

// Auth is u's credentials for the registry at addr, for an engine's push
// or a service's pulls; nil for a nil u.
func (u *User) Auth(addr string) *engine.RegistryAuth {
	if u == nil {
		return nil
	}
	return &engine.RegistryAuth{Username: u.Name, Password: u.Password, ServerAddress: addr}
}

// In reports whether an htpasswd file holds u with u's password.
func (u *User) In(htpasswd []byte) bool {
	for line := range strings.SplitSeq(string(htpasswd), "\n") {
		name, hash, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok && name == u.Name && (hash == u.matched || bcrypt.CompareHashAndPassword([]byte(hash), []byte(u.Password)) == nil) {
			u.matched = hash
			return true
		}
	}
	return false
}

// HtpasswdCost is the bcrypt cost of Htpasswd's hashes. The password is
// 128 random bits, so the cost guards nothing a guess could find; unit
// tests lower it to keep the race detector quick.
var HtpasswdCost = bcrypt.DefaultCost

// Htpasswd is u's line of an htpasswd file, bcrypt as distribution requires.
func (u *User) Htpasswd() ([]byte, error) {
	hash, err := bcrypt.GenerateFromPassword([]byte(u.Password), HtpasswdCost)
	if err != nil {
		return nil, fmt.Errorf("htpasswd of %s: %w", u.Name, err)
	}
	return []byte(u.Name + ":" + string(hash) + "\n"), nil
}
