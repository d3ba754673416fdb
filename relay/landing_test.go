package relay_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gomoq/gomoq/relay"
)

// fixed is an HTTPOptions.CertSHA256 that always returns hash.
func fixed(hash string) func() string { return func() string { return hash } }

func landing(t *testing.T, h http.Handler, host, path string) (*http.Response, string) {
	t.Helper()
	req := httptest.NewRequest("GET", path, nil)
	req.Host = host
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w.Result(), w.Body.String()
}

// TestLandingPage: GET / says what the server is, its WebTransport URL
// from the Host header, the hash of a self-signed certificate and the
// snippets; everything from the request is escaped; only / is the page.
func TestLandingPage(t *testing.T) {
	hash := strings.Repeat("ab", 32)
	r := relay.New(relay.Options{})
	defer r.Close()

	rsp, body := landing(t, r.HTTPHandlerWith(relay.HTTPOptions{CertSHA256: fixed(hash), SelfSigned: true}), "relay.test:4443", "/")
	if rsp.StatusCode != 200 || rsp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("GET /: %d %q", rsp.StatusCode, rsp.Header.Get("Content-Type"))
	}
	for _, want := range []string{
		"gomoq moq-relay",
		`<code id="url">https://relay.test:4443/</code>`,
		`<code id="hash">` + hash + `</code>`,
		`import {Connection, Path} from "@moq/net"`,
		`serverCertificateHashes: [{algorithm: "sha-256", value: "` + hash + `"}]`,
		"moq sub --url http://relay.test:4443/ --broadcast",
		`fetch("/announced/"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("GET / lacks %q", want)
		}
	}
	if strings.Contains(body, "auth-note") {
		t.Error("GET / of a relay without auth shows the token note")
	}
	for _, p := range []string{"/index.html", "/nope", "/x/"} {
		if rsp, _ := landing(t, r.HTTPHandler(hash), "relay.test", p); rsp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", p, rsp.StatusCode)
		}
	}

	// A Host header is the client's to write: it comes out escaped
	// (net/http's server refuses most such hosts; the handler must not
	// depend on it).
	evil := `x"><script>alert(1)</script>'&`
	_, body = landing(t, r.HTTPHandler(hash), evil, "/")
	if strings.Contains(body, "<script>alert(1)") || strings.Contains(body, `x">`) {
		t.Errorf("GET / with Host %q: not escaped:\n%s", evil, body)
	}
	if !strings.Contains(body, "https://x&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;&#39;&amp;/") {
		t.Errorf("GET / with Host %q: the escaped host is missing", evil)
	}

	// A certificate clients verify: no hash, https:// for the CLI.
	_, body = landing(t, r.HTTPHandlerWith(relay.HTTPOptions{CertSHA256: fixed(hash)}), "relay.example.com", "/")
	if strings.Contains(body, hash) || strings.Contains(body, "serverCertificateHashes") {
		t.Error("GET / shows the hash of a certificate that is not self-signed")
	}
	if !strings.Contains(body, "moq sub --url https://relay.example.com/ --broadcast") {
		t.Error("GET / with a verified certificate: the CLI snippet does not use https://")
	}

	// QUIC on another port than HTTP: the URLs name the QUIC port.
	_, body = landing(t, r.HTTPHandlerWith(relay.HTTPOptions{CertSHA256: fixed(hash), SelfSigned: true, QUICPort: 4443}), "relay.test:8080", "/")
	for _, want := range []string{`<code id="url">https://relay.test:4443/</code>`, "moq sub --url moqt://relay.test:4443/ --tls-insecure --broadcast"} {
		if !strings.Contains(body, want) {
			t.Errorf("GET / with QUIC on port 4443 lacks %q", want)
		}
	}
	_, body = landing(t, r.HTTPHandlerWith(relay.HTTPOptions{QUICPort: 443}), "[2001:db8::1]:80", "/")
	if !strings.Contains(body, `<code id="url">https://[2001:db8::1]:443/</code>`) {
		t.Error("GET / from an IPv6 host with QUIC on 443: wrong URL")
	}

	// With auth, the page says that listing needs a token.
	ra := relay.New(relay.Options{Auth: &relay.JWTAuth{Public: []string{"open"}}})
	defer ra.Close()
	_, body = landing(t, ra.HTTPHandler(hash), "relay.test", "/")
	for _, want := range []string{`id="auth-note"`, "?jwt=TOKEN", "--jwt TOKEN"} {
		if !strings.Contains(body, want) {
			t.Errorf("GET / of a relay with auth lacks %q", want)
		}
	}
}

// TestCertificateHashFollows: /certificate.sha256 and the landing page
// serve the hash HTTPOptions.CertSHA256 returns at each request, so that
// they follow a certificate reloaded while the relay runs.
func TestCertificateHashFollows(t *testing.T) {
	r := relay.New(relay.Options{})
	defer r.Close()
	hash := strings.Repeat("01", 32)
	h := r.HTTPHandlerWith(relay.HTTPOptions{CertSHA256: func() string { return hash }, SelfSigned: true})
	for _, want := range []string{hash, strings.Repeat("fe", 32)} {
		hash = want
		if _, body := landing(t, h, "relay.test", "/certificate.sha256"); body != want {
			t.Errorf("/certificate.sha256 = %q, want %q", body, want)
		}
		if _, body := landing(t, h, "relay.test", "/"); !strings.Contains(body, `<code id="hash">`+want+`</code>`) {
			t.Errorf("GET / does not show the hash %s", want)
		}
	}
	if _, body := landing(t, r.HTTPHandlerWith(relay.HTTPOptions{}), "relay.test", "/certificate.sha256"); body != "" {
		t.Errorf("/certificate.sha256 without CertSHA256 = %q, want empty", body)
	}
}
