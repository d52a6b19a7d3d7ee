// Package consultest offers Fake, an in-memory consulstore.Store for unit
// tests: KV, the lock, registrations and their checks.
package consultest

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"

	"github.com/swarmcass/swarmcass/consulstore"
)

// Fake is Consul's KV, lock and catalog in memory. Every check passes
// unless SetCheck says otherwise. Its zero value is not usable: call New.
type Fake struct {
	mu       sync.Mutex
	up       func() bool
	down     error
	kv       map[string][]byte
	holders  map[string][]byte
	services map[string]consulstore.Service
	checks   map[string][2]string // service ID -> status, output
	puts     int
	regs     int
}

// New is an empty Consul that answers.
func New() *Fake {
	return &Fake{kv: map[string][]byte{}, holders: map[string][]byte{}, services: map[string]consulstore.Service{},
		checks: map[string][2]string{}}
}

// ServeWhile makes Leader, Get and Put fail while up reports false, as
// when Consul's container does not run yet.
func (f *Fake) ServeWhile(up func() bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.up = up
}

// SetDown makes every read fail with err (nil: answer again).
func (f *Fake) SetDown(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = err
}

func (f *Fake) fail(ctx context.Context) error {
	if err := ctx.Err(); err != nil { // as the HTTP client fails
		return err
	}
	if f.down != nil {
		return f.down
	}
	if f.up != nil && !f.up() {
		return errors.New("consul: connection refused")
	}
	return nil
}

// Value is the value of key, and whether it exists.
func (f *Fake) Value(key string) ([]byte, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.kv[key]
	return v, ok
}

// SetValue writes key as something other than swarmcass would (not counted
// in Puts).
func (f *Fake) SetValue(key string, value []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.kv[key] = append([]byte(nil), value...)
}

// SetJSON writes v as JSON at key.
func (f *Fake) SetJSON(key string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	f.SetValue(key, b)
}

// Holder is the value of the lock at key, and whether it is held.
func (f *Fake) Holder(key string) ([]byte, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	h, ok := f.holders[key]
	return h, ok
}

// Hold makes the lock at key held by another process, with value holder.
func (f *Fake) Hold(key string, holder []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.holders[key] = holder
}

// Locks is how many locks are held.
func (f *Fake) Locks() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.holders)
}

// Service is the registration of id, and whether there is one.
func (f *Fake) Service(id string) (consulstore.Service, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.services[id]
	return s, ok
}

// SetCheck sets the status and output of service id's check.
func (f *Fake) SetCheck(id, status, output string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.checks[id] = [2]string{status, output}
}

// Puts counts Put calls; Registrations counts Register calls.
func (f *Fake) Puts() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.puts
}

func (f *Fake) Registrations() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.regs
}

func (f *Fake) Leader(ctx context.Context) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail(ctx); err != nil {
		return "", err
	}
	return "172.17.0.2:8300", nil
}

func (f *Fake) Lock(ctx context.Context, key string, holder consulstore.Holder) (func(), error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if h, ok := f.holders[key]; ok {
		return nil, &consulstore.LockedError{Key: key, Holder: h}
	}
	b, err := json.Marshal(holder)
	if err != nil {
		return nil, err
	}
	f.holders[key] = b
	return func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		delete(f.holders, key)
	}, nil
}

func (f *Fake) Get(ctx context.Context, key string) ([]byte, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail(ctx); err != nil {
		return nil, false, err
	}
	v, ok := f.kv[key]
	return v, ok, nil
}

func (f *Fake) Put(ctx context.Context, key string, value []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail(ctx); err != nil {
		return err
	}
	f.kv[key] = append([]byte(nil), value...)
	f.puts++
	return nil
}

func (f *Fake) List(ctx context.Context, prefix string) (map[string][]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail(ctx); err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	for k, v := range f.kv {
		if strings.HasPrefix(k, prefix) {
			out[k] = v
		}
	}
	return out, nil
}

func (f *Fake) Delete(ctx context.Context, key string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail(ctx); err != nil {
		return err
	}
	for k := range f.kv {
		if k == key || (strings.HasSuffix(key, "/") && strings.HasPrefix(k, key)) {
			delete(f.kv, k)
		}
	}
	return nil
}

func (f *Fake) Deregister(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.services, id)
	delete(f.checks, id)
	return nil
}

func (f *Fake) Register(ctx context.Context, s consulstore.Service) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.services[s.ID] = s
	f.regs++
	return nil
}

func (f *Fake) Registered(ctx context.Context, id string) (consulstore.Service, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.services[id]
	return s, ok, nil
}

func (f *Fake) status(id string) (string, string) {
	if c, ok := f.checks[id]; ok {
		return c[0], c[1]
	}
	return "passing", "TCP connect: Success"
}

func (f *Fake) CheckStatus(ctx context.Context, id string) (string, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	status, output := f.status(id)
	return status, output, nil
}

func (f *Fake) Checks(ctx context.Context, service, tag string) ([]consulstore.Check, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down != nil {
		return nil, f.down
	}
	var out []consulstore.Check
	for _, id := range sortedKeys(f.services) {
		s := f.services[id]
		if s.Name != service || !slices.Contains(s.Tags, tag) || s.Check == "" {
			continue
		}
		status, output := f.status(id)
		out = append(out, consulstore.Check{ServiceID: id, Tags: s.Tags, Meta: s.Meta, Name: "CQL on " + s.Check, Status: status, Output: output})
	}
	return out, nil
}

func sortedKeys(m map[string]consulstore.Service) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
