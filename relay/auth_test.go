package relay_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/gomoq/gomoq/moqt"
	"github.com/gomoq/gomoq/relay"
)

// testKey is a signing key and its JWK file.
type testKey struct {
	jwk  jose.JSONWebKey
	file string
}

func hsKey(t *testing.T, dir, kid string) *testKey {
	t.Helper()
	secret := make([]byte, 32)
	rand.Read(secret)
	return writeKey(t, dir, jose.JSONWebKey{Key: secret, Algorithm: "HS256", KeyID: kid}, false)
}

func esKey(t *testing.T, dir, kid string, public bool) *testKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return writeKey(t, dir, jose.JSONWebKey{Key: priv, Algorithm: "ES256", KeyID: kid}, public)
}

// writeKey writes k's JWK (its public half if public) to dir/{kid}.jwk.
func writeKey(t *testing.T, dir string, k jose.JSONWebKey, public bool) *testKey {
	t.Helper()
	w := k
	if public {
		w = k.Public()
	}
	b, err := w.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, k.KeyID+".jwk")
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return &testKey{jwk: k, file: file}
}

// sign signs claims (a JSON object) with k, naming its kid in the header.
func (k *testKey) sign(t *testing.T, claims map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", k.jwk.KeyID)
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(k.jwk.Algorithm), Key: k.jwk.Key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(s).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func setupReq(path, token string) *moqt.SetupRequest {
	u := &url.URL{Path: path}
	if token != "" {
		u.RawQuery = "jwt=" + url.QueryEscape(token)
	}
	return &moqt.SetupRequest{Path: path, URL: u}
}

// TestJWTScoping follows moq-relay's rules for the connection path against
// the token's root: equal, below (narrowing) and above it, and unrelated.
func TestJWTScoping(t *testing.T) {
	dir := t.TempDir()
	k := hsKey(t, dir, "k")
	auth := &relay.JWTAuth{Key: k.file}
	type check struct {
		path     string
		pub, sub bool
	}
	tests := []struct {
		name   string
		claims map[string]any
		conn   string
		err    bool
		checks []check
	}{
		{"root equals path", map[string]any{"root": "room/123", "put": "alice", "get": ""}, "/room/123", false, []check{
			{"room/123/alice", true, true}, {"room/123/alice/cam", true, true}, {"room/123/bob", false, true},
			{"room/123/alicex", false, true}, {"room/1234/alice", false, false}, {"other", false, false},
		}},
		{"path below root narrows", map[string]any{"root": "room/123", "get": "bob", "put": "alice"}, "/room/123/alice", false, []check{
			{"room/123/alice", true, false}, {"room/123/alice/x", true, false}, {"room/123/bob", false, false},
		}},
		{"path above root", map[string]any{"root": "demo", "get": "", "put": "alice"}, "/", false, []check{
			{"demo/alice", true, true}, {"demo/bob", false, true}, {"other", false, false},
		}},
		{"list of grants", map[string]any{"root": "", "get": []string{"a", "b/c"}}, "/", false, []check{
			{"a/x", false, true}, {"b/c", false, true}, {"b", false, false}, {"c", false, false},
		}},
		{"unrelated path", map[string]any{"root": "demo", "get": ""}, "/other", true, nil},
		{"grants nothing here", map[string]any{"root": "room", "get": "bob"}, "/room/alice", true, nil},
		{"grants nothing", map[string]any{"root": "room", "get": []string{}}, "/room", true, nil},
	}
	for _, tt := range tests {
		acc, err := auth.Authorize(setupReq(tt.conn, k.sign(t, tt.claims)))
		if tt.err {
			var ae *relay.AuthError
			if !errors.As(err, &ae) || ae.Status != http.StatusUnauthorized {
				t.Errorf("%s: Authorize = %v, want a 401 AuthError", tt.name, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		for _, c := range tt.checks {
			if got := acc.CanPublish(moqt.BroadcastPath("/" + c.path)); got != c.pub {
				t.Errorf("%s: CanPublish(%s) = %v, want %v", tt.name, c.path, got, c.pub)
			}
			if got := acc.CanSubscribe(moqt.BroadcastPath("/" + c.path)); got != c.sub {
				t.Errorf("%s: CanSubscribe(%s) = %v, want %v", tt.name, c.path, got, c.sub)
			}
		}
	}
}

// TestJWTRefusals: every bad token is refused with 401, none crashes.
func TestJWTRefusals(t *testing.T) {
	dir := t.TempDir()
	hs := hsKey(t, dir, "hs")
	es := esKey(t, dir, "es", true) // only the public half on disk
	other := hsKey(t, t.TempDir(), "hs")
	good := map[string]any{"root": "demo", "get": ""}
	expired := map[string]any{"root": "demo", "get": "", "exp": time.Now().Add(-time.Minute).Unix()}
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","kid":"hs"}`)) + "." +
		base64.RawURLEncoding.EncodeToString([]byte(`{"root":"demo","get":""}`)) + "."
	tampered := hs.sign(t, good)
	tampered = tampered[:len(tampered)-4] + "AAAA"
	tests := []struct {
		name  string
		auth  *relay.JWTAuth
		token string
		ok    bool
	}{
		{"HS256 good", &relay.JWTAuth{Key: hs.file}, hs.sign(t, good), true},
		{"ES256 verified with the public key", &relay.JWTAuth{Key: es.file}, es.sign(t, good), true},
		{"key dir by kid", &relay.JWTAuth{KeyDir: dir}, es.sign(t, good), true},
		{"expired", &relay.JWTAuth{Key: hs.file}, hs.sign(t, expired), false},
		{"another key", &relay.JWTAuth{Key: hs.file}, other.sign(t, good), false},
		{"tampered signature", &relay.JWTAuth{Key: hs.file}, tampered, false},
		{"alg none", &relay.JWTAuth{Key: hs.file}, none, false},
		{"HS token for an ES key", &relay.JWTAuth{Key: es.file}, hs.sign(t, good), false},
		{"bad base64", &relay.JWTAuth{Key: hs.file}, "%%%.***.!!!", false},
		{"not a JWT", &relay.JWTAuth{Key: hs.file}, "hello", false},
		{"huge", &relay.JWTAuth{Key: hs.file}, strings.Repeat("a", 1<<20), false},
		{"kid with path characters", &relay.JWTAuth{KeyDir: dir}, withKid(t, hs, "../hs"), false},
		{"unknown kid", &relay.JWTAuth{KeyDir: dir}, withKid(t, hs, "nope"), false},
		{"token where none is taken", &relay.JWTAuth{Public: []string{""}}, hs.sign(t, good), false},
	}
	for _, tt := range tests {
		_, err := tt.auth.Authorize(setupReq("/demo", tt.token))
		if tt.ok != (err == nil) {
			t.Errorf("%s: Authorize = %v, want ok %v", tt.name, err, tt.ok)
		}
		if err != nil && strings.Contains(err.Error(), tt.token) {
			t.Errorf("%s: the error holds the token", tt.name)
		}
	}
}

func withKid(t *testing.T, k *testKey, kid string) string {
	c := *k
	c.jwk.KeyID = kid
	return c.sign(t, map[string]any{"root": "demo", "get": ""})
}

// TestJWTKeyFileFormats: a key file may be base64url of the JSON (as the
// Rust moq-token writes it), may omit kty (old symmetric keys), and its
// scope bounds what its tokens may grant.
func TestJWTKeyFileFormats(t *testing.T) {
	dir := t.TempDir()
	k := hsKey(t, dir, "k")
	raw, _ := os.ReadFile(k.file)
	b64 := filepath.Join(dir, "b64.jwk")
	os.WriteFile(b64, []byte(base64.RawURLEncoding.EncodeToString(raw)), 0o600)
	var m map[string]any
	json.Unmarshal(raw, &m)
	delete(m, "kty")
	m["scope"] = map[string]any{"root": "demo", "get": []string{""}, "put": []string{"alice"}}
	scoped, _ := json.Marshal(m)
	sfile := filepath.Join(dir, "scoped.jwk")
	os.WriteFile(sfile, scoped, 0o600)
	for _, tt := range []struct {
		file   string
		claims map[string]any
		ok     bool
	}{
		{b64, map[string]any{"root": "demo", "get": ""}, true},
		{sfile, map[string]any{"root": "demo", "get": "", "put": "alice"}, true},
		{sfile, map[string]any{"root": "demo", "put": "bob"}, false},
		{sfile, map[string]any{"root": "", "get": ""}, false},
	} {
		_, err := (&relay.JWTAuth{Key: tt.file}).Authorize(setupReq("/demo", k.sign(t, tt.claims)))
		if tt.ok != (err == nil) {
			t.Errorf("%s %v: Authorize = %v, want ok %v", filepath.Base(tt.file), tt.claims, err, tt.ok)
		}
	}
}

// TestAuthEnforced runs a relay with JWT auth over real sockets: a session
// without a token is refused (HTTP 401 on WebTransport, an Unauthorized
// close on native QUIC); a publisher may announce only under its put; a
// subscriber sees and subscribes only under its get.
func TestAuthEnforced(t *testing.T) {
	dir := t.TempDir()
	k := esKey(t, dir, "es", false)
	forEach(t, func(t *testing.T, transport string, v moqt.Version) {
		if transport == "quic" && v < moqt.LiteDraft05 {
			t.Skip("moq-lite-03/04 carry no path on native QUIC: such sessions are anonymous (covered below)")
		}
		r := startRelay(t, relay.Options{Auth: &relay.JWTAuth{Key: k.file}})
		url := func(path string, claims map[string]any) string {
			if claims == nil {
				return path
			}
			return path + "?jwt=" + k.sign(t, claims)
		}
		// No token: refused before any session exists (on native QUIC, the
		// refusal is the session's close).
		sess, err := dialErr(t, r, transport, v, "/demo", nil)
		if err == nil && transport == "quic" {
			<-sess.Context().Done()
			err = context.Cause(sess.Context())
		}
		if err == nil {
			t.Fatal("a session without a token was accepted")
		} else if !strings.Contains(err.Error(), "401") && !strings.Contains(err.Error(), "token") {
			t.Fatalf("refusal does not say why: %v", err)
		}

		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		pubMux := namedBroadcasts(ctx, "/alice", "/bob")
		dial(t, r, transport, v, url("/demo", map[string]any{"root": "demo", "put": ""}), pubMux)

		// A subscriber allowed only alice sees only alice, and is refused bob.
		sub := dial(t, r, transport, v, url("/demo", map[string]any{"root": "demo", "get": "alice"}), nil)
		waitAnnounce(t, sub, "/", "/alice")
		tr, err := sub.Subscribe(context.Background(), "/alice", "t", nil)
		if err != nil {
			t.Fatal(err)
		}
		gr, err := tr.AcceptGroup(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if f, err := gr.ReadFrame(); err != nil || string(f.Payload) != "/alice" {
			t.Fatalf("alice's frame: %v", err)
		}
		var se *moqt.SubscribeError
		if _, err := sub.Subscribe(context.Background(), "/bob", "t", nil); !errors.As(err, &se) || se.Code != moqt.UnauthorizedError {
			t.Fatalf("subscribing to bob: %v, want UnauthorizedError", err)
		}
		ar, err := sub.AcceptAnnounce(context.Background(), "/")
		if err != nil {
			t.Fatal(err)
		}
		actx, acancel := context.WithCancel(context.Background())
		acancel() // only what is there now
		for {
			a, err := ar.ReceiveAnnouncement(actx)
			if err != nil {
				break
			}
			if a.BroadcastPath() == "/bob" {
				t.Fatal("bob announced to a session that may not subscribe to it")
			}
		}

		// Asking for announcements where it may see nothing is refused.
		far, err := sub.AcceptAnnounce(context.Background(), "/bob")
		if err == nil {
			_, err = far.ReceiveAnnouncement(context.Background())
		}
		var ae *moqt.AnnounceError
		if !errors.As(err, &ae) || ae.Code != moqt.UnauthorizedError {
			t.Fatalf("announcements under /bob: %v, want UnauthorizedError", err)
		}

		// A publisher announcing outside its put is ended with the reason.
		evil := moqt.NewTrackMux()
		evil.PublishFunc(ctx, "/bob", func(tw *moqt.TrackWriter) { <-tw.Context().Done() })
		es := dial(t, r, transport, v, url("/demo", map[string]any{"root": "demo", "put": "mallory"}), evil)
		<-es.Context().Done()
		if c := context.Cause(es.Context()); !strings.Contains(fmt.Sprint(c), "not allowed to publish demo/bob") {
			t.Fatalf("the refused publisher's session ended with %v", c)
		}
	})
}

// TestAuthHTTP: /announced and /fetch take ?jwt= and show only what it
// may get.
func TestAuthHTTP(t *testing.T) {
	dir := t.TempDir()
	k := hsKey(t, dir, "k")
	r := startRelay(t, relay.Options{Auth: &relay.JWTAuth{Key: k.file, Public: []string{"open"}}})
	srv := newHTTPServer(t, r)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	mux := namedBroadcasts(ctx, "/secret/a", "/open/b")
	dial(t, r, "quic", moqt.LiteDraft05, "/?jwt="+k.sign(t, map[string]any{"root": "", "put": ""}), mux)
	waitAnnounce(t, dial(t, r, "quic", moqt.LiteDraft05, "/?jwt="+k.sign(t, map[string]any{"root": "", "get": ""}), nil), "/", "/secret/a")
	get := func(path string) (int, string) {
		rsp, err := http.Get(srv + path)
		if err != nil {
			t.Fatal(err)
		}
		defer rsp.Body.Close()
		var b strings.Builder
		buf := make([]byte, 512)
		for {
			n, err := rsp.Body.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				break
			}
		}
		return rsp.StatusCode, b.String()
	}
	all := k.sign(t, map[string]any{"root": "", "get": ""})
	if code, body := get("/announced/?jwt=" + all); code != 200 || body != "open/b\nsecret/a\n" {
		t.Fatalf("/announced with a get-all token: %d %q", code, body)
	}
	if code, body := get("/announced/open"); code != 200 || body != "open/b\n" {
		t.Fatalf("/announced/open without a token: %d %q", code, body)
	}
	if code, _ := get("/announced/secret"); code != http.StatusUnauthorized {
		t.Fatalf("/announced/secret without a token: %d, want 401", code)
	}
	if code, body := get("/fetch/secret/a/t?jwt=" + all); code != 200 || body != "/secret/a" {
		t.Fatalf("/fetch with a token: %d %q", code, body)
	}
	if code, _ := get("/fetch/secret/a/t"); code != http.StatusUnauthorized {
		t.Fatalf("/fetch without a token: %d, want 401", code)
	}
	onlyOpen := k.sign(t, map[string]any{"root": "", "get": "open"})
	if code, _ := get("/fetch/secret/a/t?jwt=" + onlyOpen); code != http.StatusForbidden && code != http.StatusUnauthorized {
		t.Fatalf("/fetch outside the token's get: %d, want 401/403", code)
	}
}

func newHTTPServer(t *testing.T, r *testRelay) string {
	srv := httptest.NewServer(r.HTTPHandler("00"))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestAuthExpiry: a session ends when its token's exp passes.
func TestAuthExpiry(t *testing.T) {
	dir := t.TempDir()
	k := hsKey(t, dir, "k")
	r := startRelay(t, relay.Options{Auth: &relay.JWTAuth{Key: k.file}})
	tok := k.sign(t, map[string]any{"root": "", "get": "", "exp": time.Now().Add(time.Second).Unix()})
	sess := dial(t, r, "quic", moqt.LiteDraft05, "/?jwt="+tok, nil)
	<-sess.Context().Done()
	var se *moqt.SessionError
	if c := context.Cause(sess.Context()); !errors.As(c, &se) || se.Code != moqt.UnauthorizedSessionError || !strings.Contains(se.Error(), "expired") {
		t.Fatalf("session ended with %v, want Unauthorized: token expired", c)
	}
}

// TestAuthPublicAnonymous: with --auth-public, a session without a token
// (a moq-lite-03 native QUIC one carries no path, so it is always one) sees
// and subscribes to the public paths only; a key dir serves tokens by kid.
func TestAuthPublicAnonymous(t *testing.T) {
	dir := t.TempDir()
	k := esKey(t, dir, "k1", true)
	r := startRelay(t, relay.Options{Auth: &relay.JWTAuth{KeyDir: dir, Public: []string{"open"}}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	mux := namedBroadcasts(ctx, "/secret/a", "/open/b")
	dial(t, r, "webtransport", moqt.LiteDraft05, "/?jwt="+k.sign(t, map[string]any{"root": "", "put": ""}), mux)
	for _, c := range []struct {
		transport string
		v         moqt.Version
	}{{"quic", moqt.LiteDraft03}, {"webtransport", moqt.LiteDraft05}} {
		sub := dial(t, r, c.transport, c.v, "/", nil)
		waitAnnounce(t, sub, "/", "/open/b")
		tr, err := sub.Subscribe(context.Background(), "/open/b", "t", nil)
		if err != nil {
			t.Fatalf("%s %s: public subscription: %v", c.transport, c.v, err)
		}
		tr.Close()
		var se *moqt.SubscribeError
		if _, err := sub.Subscribe(context.Background(), "/secret/a", "t", nil); !errors.As(err, &se) || se.Code != moqt.UnauthorizedError {
			t.Fatalf("%s %s: anonymous subscription to /secret/a: %v, want UnauthorizedError", c.transport, c.v, err)
		}
	}
}

// namedBroadcasts publishes each named broadcast: any track of it is one
// group of one frame, the broadcast's name, and stays open until ctx ends.
func namedBroadcasts(ctx context.Context, names ...string) *moqt.TrackMux {
	mux := moqt.NewTrackMux()
	for _, name := range names {
		mux.PublishFunc(ctx, moqt.BroadcastPath(name), func(tw *moqt.TrackWriter) {
			gw, err := tw.OpenGroup(ctx, 0)
			if err != nil {
				return
			}
			gw.WriteFrame(ctx, moqt.NewFrame([]byte(name)))
			gw.Close()
			<-tw.Context().Done()
		})
	}
	return mux
}
