package consulstore

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"

	"github.com/hashicorp/consul/api"
)

// Consul's ACLs, default deny: swarmcass bootstraps the ACL system with a
// management token of its own making and sends it with every request
// (Dial's Tokens); the anonymous token may read nodes and services, which
// is what service discovery and DNS need, and nothing else.

// ACLConfig is the agent configuration that turns ACLs on, default deny,
// with tokens set through the API (the agent's) kept across restarts.
const ACLConfig = `acl { enabled = true, default_policy = "deny", enable_token_persistence = true }`

// AnonymousPolicy is what a request without a token may do: read the
// catalog's nodes and services, so Consul's DNS and service lookups
// answer; not the KV store, not a write, not a lock.
const AnonymousPolicy = `node_prefix "" { policy = "read" }
service_prefix "" { policy = "read" }`

// AgentPolicy lets the agent register its own node and keep its
// coordinates; the nodes' registrations carry swarmcass's token.
const AgentPolicy = `node_prefix "" { policy = "write" }
service_prefix "" { policy = "read" }`

// Names of the policies and the agent's token that Setup makes.
const (
	AnonymousPolicyName = "swarmcass-anonymous"
	AgentPolicyName     = "swarmcass-agent"
	// AgentTokenAccessor is the fixed accessor ID of the agent's token, so
	// a re-run finds it instead of making another.
	AgentTokenAccessor = "73776172-6d63-4173-a000-6167656e7401"
	anonymousAccessor  = "00000000-0000-0000-0000-000000000002"
)

// ACLError: Consul's ACLs refused a request.
type ACLError struct {
	Addr      string
	Anonymous bool // no token was sent
	Err       error
}

func (e *ACLError) Error() string {
	who := "swarmcass's token"
	if e.Anonymous {
		who = "a request without a token"
	}
	return fmt.Sprintf("consul at %s refused %s: %v", e.Addr, who, e.Err)
}

func (e *ACLError) Unwrap() error { return e.Err }

// statusBody is the status code and body of a Consul error answer.
func statusBody(err error) (int, string) {
	var se api.StatusError
	if errors.As(err, &se) {
		return se.Code, se.Body
	}
	if err != nil {
		// Some calls format the answer themselves.
		msg := err.Error()
		for _, code := range []int{401, 403} {
			if strings.Contains(msg, fmt.Sprintf("code: %d", code)) || strings.Contains(msg, fmt.Sprintf("%d (", code)) {
				return code, msg
			}
		}
	}
	return 0, ""
}

// IsTokenUnknown: Consul does not know the token sent ("ACL not found").
func IsTokenUnknown(err error) bool {
	code, body := statusBody(err)
	return code == 403 && strings.Contains(body, "ACL not found")
}

// IsDenied: Consul's ACLs refused the request (the token is unknown or
// lacks the permission).
func IsDenied(err error) bool {
	code, body := statusBody(err)
	return code == 403 && (strings.Contains(body, "Permission denied") || strings.Contains(body, "ACL not found"))
}

// isACLDisabled: the agent runs without ACLs.
func isACLDisabled(err error) bool {
	code, body := statusBody(err)
	return (code == 401 || code == 403) && strings.Contains(body, "ACL support disabled")
}

// TokenState is what Consul says of a token.
type TokenState int

const (
	// TokenValid: Consul knows the token.
	TokenValid TokenState = iota
	// TokenUnknown: ACLs are on and Consul does not know the token (or
	// none was given).
	TokenUnknown
	// ACLsOff: the agent runs without ACLs; tokens mean nothing to it.
	ACLsOff
)

func (s TokenState) String() string {
	return [...]string{"valid", "unknown", "ACLs off"}[s]
}

// ErrBootstrapped: the ACL system was bootstrapped already, with a token
// of somebody's making.
var ErrBootstrapped = errors.New("Consul's ACL system is bootstrapped already")

// Admin sets up Consul's ACL system; bootstrap uses it when it makes
// Consul, other commands never do.
type Admin interface {
	// Check says whether Consul knows token ("" asks as anonymous).
	Check(ctx context.Context, token string) (TokenState, error)
	// Bootstrap bootstraps the ACL system with token as the management
	// token's secret; ErrBootstrapped when it was done before.
	Bootstrap(ctx context.Context, token string) error
	// Setup makes, with the management token, what swarmcass's ACLs are
	// besides it: the anonymous token's policy (AnonymousPolicy) and the
	// agent's token (AgentPolicy), unless they are there; it changes no
	// token that exists.
	Setup(ctx context.Context, token string) error
}

// DialAdmin is an Admin over the Consul HTTP API at addr (host:port).
func DialAdmin(addr string) (Admin, error) {
	h := &httpStore{addr: addr}
	c, err := h.newClient("")
	if err != nil {
		return nil, err
	}
	return &httpAdmin{c: c, addr: addr}, nil
}

type httpAdmin struct {
	c    *api.Client
	addr string
}

func (a *httpAdmin) Check(ctx context.Context, token string) (TokenState, error) {
	_, _, err := a.c.ACL().TokenReadSelf((&api.QueryOptions{Token: token}).WithContext(ctx))
	switch {
	case err == nil:
		return TokenValid, nil
	case isACLDisabled(err):
		return ACLsOff, nil
	case IsTokenUnknown(err):
		return TokenUnknown, nil
	}
	return 0, fmt.Errorf("consul at %s: check the ACL token: %w", a.addr, err)
}

func (a *httpAdmin) Bootstrap(ctx context.Context, token string) error {
	_, _, err := a.c.ACL().BootstrapWithToken(token)
	if err != nil {
		if code, body := statusBody(err); code == 403 && strings.Contains(body, "no longer allowed") {
			return fmt.Errorf("consul at %s: %w (%s)", a.addr, ErrBootstrapped, body)
		}
		return fmt.Errorf("consul at %s: bootstrap the ACL system: %w", a.addr, err)
	}
	return nil
}

func (a *httpAdmin) Setup(ctx context.Context, token string) error {
	w := (&api.WriteOptions{Token: token}).WithContext(ctx)
	q := (&api.QueryOptions{Token: token}).WithContext(ctx)
	acl := a.c.ACL()
	ensurePolicy := func(name, rules, what string) error {
		p, _, err := acl.PolicyReadByName(name, q)
		if err != nil && !strings.Contains(err.Error(), "404") {
			return fmt.Errorf("consul at %s: read policy %s: %w", a.addr, name, err)
		}
		if err == nil && p != nil {
			return nil
		}
		if _, _, err := acl.PolicyCreate(&api.ACLPolicy{Name: name, Description: what, Rules: rules}, w); err != nil {
			return fmt.Errorf("consul at %s: create policy %s: %w", a.addr, name, err)
		}
		return nil
	}
	if err := ensurePolicy(AnonymousPolicyName, AnonymousPolicy, "swarmcass: service discovery and DNS without a token"); err != nil {
		return err
	}
	if err := ensurePolicy(AgentPolicyName, AgentPolicy, "swarmcass: the Consul agent's own node"); err != nil {
		return err
	}
	anon, _, err := acl.TokenRead(anonymousAccessor, q)
	if err != nil || anon == nil {
		return fmt.Errorf("consul at %s: read the anonymous token: %w", a.addr, err)
	}
	has := false
	for _, p := range anon.Policies {
		has = has || p.Name == AnonymousPolicyName
	}
	if !has {
		anon.Policies = append(anon.Policies, &api.ACLTokenPolicyLink{Name: AnonymousPolicyName})
		if _, _, err := acl.TokenUpdate(anon, w); err != nil {
			return fmt.Errorf("consul at %s: give the anonymous token policy %s: %w", a.addr, AnonymousPolicyName, err)
		}
	}
	agent, _, err := acl.TokenRead(AgentTokenAccessor, q)
	if err != nil || agent == nil {
		if err != nil && !IsTokenUnknown(err) && !strings.Contains(err.Error(), "404") {
			return fmt.Errorf("consul at %s: read the agent's token: %w", a.addr, err)
		}
		secret, err := NewToken()
		if err != nil {
			return err
		}
		agent, _, err = acl.TokenCreate(&api.ACLToken{AccessorID: AgentTokenAccessor, SecretID: secret,
			Description: "swarmcass: the Consul agent", Policies: []*api.ACLTokenPolicyLink{{Name: AgentPolicyName}}}, w)
		if err != nil {
			return fmt.Errorf("consul at %s: create the agent's token: %w", a.addr, err)
		}
	}
	// The same value each run; kept by the agent (enable_token_persistence).
	if _, err := a.c.Agent().UpdateAgentACLToken(agent.SecretID, w); err != nil {
		return fmt.Errorf("consul at %s: give the agent its token: %w", a.addr, err)
	}
	return nil
}

// NewToken is a new random token secret: a UUID (version 4), the form
// Consul requires.
func NewToken() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("new token: %w", err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:]), nil
}
