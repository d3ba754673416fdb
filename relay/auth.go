package relay

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/gomoq/gomoq/moqt"
)

// Access is what one session may do. Paths are broadcast paths of the
// relay (absolute, without leading or trailing slash); a session may
// publish or subscribe to a broadcast under (or equal to) one of its
// prefixes, segment by segment: "a" covers "a" and "a/b", not "ab"; ""
// covers everything.
type Access struct {
	Publish   []string
	Subscribe []string
	// Expires, if not zero, is when the session must end (the token's exp).
	Expires time.Time
}

// FullAccess allows everything, for ever.
func FullAccess() *Access { return &Access{Publish: []string{""}, Subscribe: []string{""}} }

// CanPublish reports whether the session may publish the broadcast at path.
func (a *Access) CanPublish(path moqt.BroadcastPath) bool {
	return a == nil || covered(a.Publish, clean(string(path)))
}

// CanDiscover reports whether the session may subscribe to anything under
// prefix (or above it), so that asking for its announcements makes sense.
func (a *Access) CanDiscover(prefix moqt.BroadcastPath) bool {
	if a == nil {
		return true
	}
	p := clean(string(prefix))
	for _, s := range a.Subscribe {
		if related(p, s) {
			return true
		}
	}
	return false
}

// CanSubscribe reports whether the session may subscribe to the broadcast
// at path.
func (a *Access) CanSubscribe(path moqt.BroadcastPath) bool {
	return a == nil || covered(a.Subscribe, clean(string(path)))
}

func covered(prefixes []string, p string) bool {
	for _, pre := range prefixes {
		if under(p, pre) {
			return true
		}
	}
	return false
}

// under reports whether p is pre or below it, segment by segment (both
// clean).
func under(p, pre string) bool {
	return pre == "" || p == pre || strings.HasPrefix(p, pre+"/")
}

// related reports whether one of a and b is under the other.
func related(a, b string) bool { return under(a, b) || under(b, a) }

func clean(p string) string {
	parts := strings.Split(p, "/")
	out := parts[:0]
	for _, s := range parts {
		if s != "" {
			out = append(out, s)
		}
	}
	return strings.Join(out, "/")
}

func join(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "/" + b
}

// An Authorizer decides what the session a setup request asks for may do.
// An error refuses the session: an *AuthError says with which HTTP status.
type Authorizer interface {
	Authorize(r *moqt.SetupRequest) (*Access, error)
}

// AuthError refuses a session or an HTTP request.
type AuthError struct {
	Status int    // http.StatusUnauthorized or http.StatusForbidden
	Reason string // told to the client; never holds the token

	reason authReason // as counted in the metrics
}

func (e *AuthError) Error() string { return "relay: unauthorized: " + e.Reason }

func unauthorized(reason authReason, format string, args ...any) error {
	return &AuthError{Status: http.StatusUnauthorized, Reason: fmt.Sprintf(format, args...), reason: reason}
}

// JWTAuth authorizes sessions with the JWTs of moq-relay: signed by
// moq-token or @moq/token, given as the jwt query parameter of the
// connection URL, with the claims root, put, get and exp. The connection
// path may be the token's root, below it (which narrows what it grants)
// or above it; any other path is refused.
type JWTAuth struct {
	// Key is the file of the one key that verifies every token (a JWK as
	// moq-token and @moq/token write it: JSON or base64url of JSON). It is
	// read for each connection, so it can be replaced while running.
	Key string
	// KeyDir holds keys chosen by the token's kid, as KeyDir/{kid}.jwk,
	// read when needed. Only one of Key and KeyDir may be set.
	KeyDir string
	// Public lists the path prefixes that sessions without a token may
	// publish and subscribe to; "" makes everything public.
	Public []string
}

// maxToken bounds the length of a token.
const maxToken = 16 << 10

var kidPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// Authorize implements Authorizer.
func (a *JWTAuth) Authorize(r *moqt.SetupRequest) (*Access, error) {
	path := clean(r.Path)
	var token string
	if r.URL != nil {
		for _, v := range r.URL.Query()["jwt"] {
			if v != "" {
				token = v // the last one wins, as in moq-relay
			}
		}
	}
	if token == "" {
		var pub []string
		for _, p := range a.Public {
			p = clean(p)
			if related(p, path) {
				pub = append(pub, p)
			}
		}
		if len(pub) == 0 {
			return nil, unauthorized(reasonNoToken, "a token is needed for %q", "/"+path)
		}
		return &Access{Publish: pub, Subscribe: slices.Clone(pub)}, nil
	}
	if a.Key == "" && a.KeyDir == "" {
		return nil, unauthorized(reasonNoKeys, "this relay takes no tokens")
	}
	if len(token) > maxToken {
		return nil, unauthorized(reasonMalformed, "token too long")
	}
	claims, err := a.Verify(token)
	if err != nil {
		return nil, err
	}
	return claims.access(path)
}

// Claims are the claims of a moq-relay token.
type Claims struct {
	Root string `json:"root"`
	Put  Grants `json:"put,omitempty"`
	Get  Grants `json:"get,omitempty"`
	Exp  *int64 `json:"exp,omitempty"`
	Iat  *int64 `json:"iat,omitempty"`
}

// Grants is a claim that is a path or a list of paths (as JSON, a string
// or a list of strings).
type Grants []string

func (g *Grants) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*g = Grants{s}
		return nil
	}
	var l []string
	if err := json.Unmarshal(b, &l); err != nil {
		return errors.New("must be a string or a list of strings")
	}
	*g = l
	return nil
}

// access scopes the claims to a connection at path.
func (c *Claims) access(path string) (*Access, error) {
	root := clean(c.Root)
	if !related(root, path) {
		return nil, unauthorized(reasonWrongPath, "the token's root does not match the connection path %q", "/"+path)
	}
	scope := func(gs Grants) []string {
		var out []string
		for _, g := range gs {
			p := join(root, clean(g))
			if related(p, path) {
				out = append(out, p)
			}
		}
		return out
	}
	acc := &Access{Publish: scope(c.Put), Subscribe: scope(c.Get)}
	if len(acc.Publish) == 0 && len(acc.Subscribe) == 0 {
		return nil, unauthorized(reasonWrongPath, "the token grants nothing under %q", "/"+path)
	}
	if c.Exp != nil {
		acc.Expires = time.Unix(*c.Exp, 0)
	}
	return acc, nil
}

// jwkKey is a key file: the JWK, and what go-jose does not model.
type jwkKey struct {
	jwk    jose.JSONWebKey
	alg    jose.SignatureAlgorithm
	keyOps []string
	scope  *struct {
		Root string `json:"root"`
		Put  Grants `json:"put"`
		Get  Grants `json:"get"`
	}
}

// KeyFileJSON returns the JWK JSON of a key file's contents, which
// moq-token and @moq/token write as JSON or as base64url of the JSON.
func KeyFileJSON(contents []byte) ([]byte, error) {
	s := strings.TrimSpace(string(contents))
	if strings.HasPrefix(s, "{") {
		return []byte(s), nil
	}
	dec, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return nil, errors.New("key file is neither JSON nor base64url")
	}
	return dec, nil
}

// parseKey reads a key file's contents.
func parseKey(b []byte) (*jwkKey, error) {
	js, err := KeyFileJSON(b)
	if err != nil {
		return nil, err
	}
	s := string(js)
	var extra struct {
		Kty    string          `json:"kty"`
		Alg    string          `json:"alg"`
		KeyOps []string        `json:"key_ops"`
		Scope  json.RawMessage `json:"scope"`
	}
	if err := json.Unmarshal([]byte(s), &extra); err != nil {
		return nil, fmt.Errorf("key file: %w", err)
	}
	if extra.Kty == "" {
		// Keys written before kty existed are symmetric.
		var m map[string]any
		json.Unmarshal([]byte(s), &m)
		m["kty"] = "oct"
		b, _ := json.Marshal(m)
		s = string(b)
	}
	k := &jwkKey{alg: jose.SignatureAlgorithm(extra.Alg), keyOps: extra.KeyOps}
	if err := k.jwk.UnmarshalJSON([]byte(s)); err != nil {
		return nil, fmt.Errorf("key file: %w", err)
	}
	if len(extra.Scope) > 0 && string(extra.Scope) != "null" {
		if err := json.Unmarshal(extra.Scope, &k.scope); err != nil {
			return nil, fmt.Errorf("key file: scope: %w", err)
		}
	}
	switch k.alg {
	case jose.HS256, jose.HS384, jose.HS512:
		if b, ok := k.jwk.Key.([]byte); !ok || len(b) < 32 {
			return nil, errors.New("key file: an HMAC key needs at least 32 bytes")
		}
	case jose.ES256, jose.ES384, jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512, jose.EdDSA:
	default:
		return nil, fmt.Errorf("key file: unsupported alg %q", extra.Alg)
	}
	return k, nil
}

// CheckKeyFile reports whether file holds a key JWTAuth can use.
func CheckKeyFile(file string) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	_, err = parseKey(b)
	return err
}

// verifier returns the key that checks signatures.
func (k *jwkKey) verifier() any {
	if b, ok := k.jwk.Key.([]byte); ok {
		return b
	}
	return k.jwk.Public().Key
}

func (a *JWTAuth) loadKey(kid string) (*jwkKey, error) {
	file := a.Key
	if a.KeyDir != "" {
		if kid == "" {
			return nil, unauthorized(reasonMalformed, "the token has no kid")
		}
		if !kidPattern.MatchString(kid) {
			return nil, unauthorized(reasonMalformed, "the token's kid is not a key name")
		}
		file = filepath.Join(a.KeyDir, kid+".jwk")
	}
	b, err := os.ReadFile(file)
	if err != nil {
		if a.KeyDir != "" {
			return nil, unauthorized(reasonUnknownKey, "unknown key %q", kid)
		}
		return nil, fmt.Errorf("relay: reading the auth key: %w", err)
	}
	return parseKey(b)
}

// Verify checks token's signature with the key (Key, or KeyDir by the
// token's kid), its expiry and its claims, and returns the claims.
func (a *JWTAuth) Verify(token string) (*Claims, error) {
	// The header names the key (kid) and the algorithm, which must be the
	// key's own: parse it, unverified, to find the key.
	parsed, err := jwt.ParseSigned(token, allAlgorithms)
	if err != nil {
		return nil, unauthorized(reasonMalformed, "malformed token")
	}
	if len(parsed.Headers) != 1 {
		return nil, unauthorized(reasonMalformed, "malformed token")
	}
	key, err := a.loadKey(parsed.Headers[0].KeyID)
	if err != nil {
		return nil, err
	}
	if len(key.keyOps) > 0 && !slices.Contains(key.keyOps, "verify") {
		return nil, errors.New("relay: the auth key may not verify (key_ops)")
	}
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{key.alg})
	if err != nil {
		return nil, unauthorized(reasonMalformed, "the token's algorithm is not its key's")
	}
	var c Claims
	if err := tok.Claims(key.verifier(), &c); err != nil {
		return nil, unauthorized(reasonBadSignature, "bad token signature or claims")
	}
	if c.Exp != nil && time.Now().Unix() > *c.Exp {
		return nil, unauthorized(reasonExpired, "token expired")
	}
	if len(c.Put) == 0 && len(c.Get) == 0 {
		return nil, unauthorized(reasonGrants, "the token grants nothing")
	}
	if key.scope != nil {
		sroot := clean(key.scope.Root)
		within := func(gs, allowed Grants) bool {
			for _, g := range gs {
				p := join(clean(c.Root), clean(g))
				ok := false
				for _, s := range allowed {
					ok = ok || under(p, join(sroot, clean(s)))
				}
				if !ok {
					return false
				}
			}
			return true
		}
		if !within(c.Put, key.scope.Put) || !within(c.Get, key.scope.Get) {
			return nil, unauthorized(reasonGrants, "the token grants more than its key's scope")
		}
	}
	return &c, nil
}

var allAlgorithms = []jose.SignatureAlgorithm{
	jose.HS256, jose.HS384, jose.HS512, jose.ES256, jose.ES384,
	jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512, jose.EdDSA,
}
