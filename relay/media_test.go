package relay_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/gomoq/gomoq/relay"
)

func mediaGet(t *testing.T, h http.Handler, method, target string, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	req.Host = "relay.test:4443"
	for k, v := range header {
		req.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w.Result(), w.Body.Bytes()
}

var scriptRE = regexp.MustCompile(`<script type="module" src="(/web/(watch|publish)\.[0-9a-f]{12}\.js)"></script>`)

// TestMediaPages: /watch and /publish hold the player for ?name= (escaped),
// or only the name form; each links its own embedded bundle by a hashed
// name; the landing page links both.
func TestMediaPages(t *testing.T) {
	r := relay.New(relay.Options{})
	defer r.Close()
	h := r.HTTPHandlerWith(relay.HTTPOptions{CertSHA256: fixed(strings.Repeat("ab", 32)), SelfSigned: true})

	rsp, b := mediaGet(t, h, "GET", "/watch?name=live/demo.hang", nil)
	body := string(b)
	if rsp.StatusCode != 200 || rsp.Header.Get("Content-Type") != "text/html; charset=utf-8" || rsp.Header.Get("Cache-Control") != "no-cache" {
		t.Fatalf("GET /watch: %d %q %q", rsp.StatusCode, rsp.Header.Get("Content-Type"), rsp.Header.Get("Cache-Control"))
	}
	if csp := rsp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self' blob:") {
		t.Errorf("GET /watch: CSP %q", csp)
	}
	for _, want := range []string{
		`<moq-watch name="live/demo.hang" visible="always" latency="500"><canvas></canvas></moq-watch>`,
		`<moq-watch-ui>`,
		`href="/publish?name=live%2Fdemo.hang"`,
		`value="live/demo.hang"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("GET /watch?name= lacks %q", want)
		}
	}
	if strings.Contains(body, "data-quic-port") || strings.Contains(body, " url=") {
		t.Error("GET /watch: the page names a URL or port; its script derives the URL from the page's location")
	}
	m := scriptRE.FindStringSubmatch(body)
	if m == nil || m[2] != "watch" {
		t.Fatalf("GET /watch: no watch bundle script in\n%s", body)
	}
	watchJS := m[1]

	_, b = mediaGet(t, h, "GET", "/publish?name=live/demo.hang&source=camera&jwt=tok%26en", nil)
	body = string(b)
	for _, want := range []string{
		`<moq-publish name="live/demo.hang" source="camera"><video muted autoplay playsinline></video></moq-publish>`,
		`<moq-publish-ui>`,
		`<option value="camera" selected>`,
		`<input type="hidden" name="jwt" value="tok&amp;en">`,
		`href="/watch?jwt=tok%26en&amp;name=live%2Fdemo.hang"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("GET /publish?name=&source=camera&jwt= lacks %q", want)
		}
	}
	if m := scriptRE.FindStringSubmatch(body); m == nil || m[2] != "publish" {
		t.Errorf("GET /publish: no publish bundle script")
	}
	// An unknown source is the page's to choose.
	if _, b = mediaGet(t, h, "GET", "/publish?name=x&source=file", nil); strings.Contains(string(b), "source=") {
		t.Errorf("GET /publish?source=file passes it on:\n%s", b)
	}

	// No name: the form only.
	for _, p := range []string{"/watch", "/publish", "/watch?name=", "/watch?name=%2F"} {
		_, b = mediaGet(t, h, "GET", p, nil)
		if !bytes.Contains(b, []byte(`<input name="name" list="live" value=""`)) || bytes.Contains(b, []byte("<moq-watch ")) || bytes.Contains(b, []byte("<moq-publish ")) {
			t.Errorf("GET %s: want the name form and no player:\n%s", p, b)
		}
	}

	// The name is the client's to write: escaped everywhere.
	evil := `"><script>alert(1)</script>`
	_, b = mediaGet(t, h, "GET", "/watch?name="+strings.ReplaceAll(evil, " ", "%20"), nil)
	if bytes.Contains(b, []byte("<script>alert")) {
		t.Errorf("GET /watch with name %q: not escaped:\n%s", evil, b)
	}

	// QUIC on another port than HTTP: the page's script is told.
	_, b = mediaGet(t, r.HTTPHandlerWith(relay.HTTPOptions{CertSHA256: fixed("00ff"), QUICPort: 443}), "GET", "/watch?name=a", nil)
	if !bytes.Contains(b, []byte(`<body data-quic-port="443">`)) {
		t.Errorf("GET /watch with QUICPort: no data-quic-port")
	}
	// ... and, self-signed, the certificate's hash to pin (@moq/net would
	// fetch it from the QUIC port).
	_, b = mediaGet(t, r.HTTPHandlerWith(relay.HTTPOptions{CertSHA256: fixed("00ff"), SelfSigned: true, QUICPort: 4443}), "GET", "/publish?name=a", nil)
	if !bytes.Contains(b, []byte(`<body data-quic-port="4443" data-cert-sha256="00ff">`)) {
		t.Errorf("GET /publish with QUICPort, self-signed: no data-cert-sha256")
	}
	if _, b = mediaGet(t, h, "GET", "/watch?name=a", nil); bytes.Contains(b, []byte("data-cert-sha256")) {
		t.Errorf("GET /watch on the QUIC port: names the hash (the page's origin serves it)")
	}

	// The landing page links both pages.
	_, b = mediaGet(t, h, "GET", "/", nil)
	for _, want := range []string{`id="watch-link" href="/watch"`, `id="publish-link" href="/publish"`, `"/watch?name=" + encodeURIComponent(name)`} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("GET / lacks %q", want)
		}
	}

	// The bundle: immutable under its hashed name, revalidated under its
	// plain one, gzip when asked, 304 on its ETag, HEAD without a body.
	rsp, js := mediaGet(t, h, "GET", watchJS, nil)
	if rsp.StatusCode != 200 || rsp.Header.Get("Content-Type") != "text/javascript; charset=utf-8" ||
		rsp.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" || rsp.Header.Get("ETag") == "" {
		t.Fatalf("GET %s: %d %v", watchJS, rsp.StatusCode, rsp.Header)
	}
	if !bytes.HasPrefix(js, []byte("// Code generated by web/build.mjs")) || !bytes.Contains(js, []byte(`customElements.define("moq-watch"`)) || len(js) < 100_000 {
		t.Errorf("GET %s: %d bytes, not the watch bundle", watchJS, len(js))
	}
	etag := rsp.Header.Get("ETag")
	rsp, plain := mediaGet(t, h, "GET", "/web/watch.js", nil)
	if rsp.StatusCode != 200 || rsp.Header.Get("Cache-Control") != "no-cache" || rsp.Header.Get("ETag") != etag || !bytes.Equal(plain, js) {
		t.Errorf("GET /web/watch.js: %d %v", rsp.StatusCode, rsp.Header)
	}
	if rsp, b := mediaGet(t, h, "GET", "/web/watch.js", map[string]string{"If-None-Match": etag}); rsp.StatusCode != http.StatusNotModified || len(b) != 0 {
		t.Errorf("GET /web/watch.js If-None-Match: %d, %d bytes", rsp.StatusCode, len(b))
	}
	rsp, gz := mediaGet(t, h, "GET", watchJS, map[string]string{"Accept-Encoding": "br, gzip"})
	if rsp.Header.Get("Content-Encoding") != "gzip" || len(gz) >= len(js) {
		t.Errorf("GET %s (gzip): %v, %d bytes", watchJS, rsp.Header, len(gz))
	} else if zr, err := gzip.NewReader(bytes.NewReader(gz)); err != nil {
		t.Error(err)
	} else if un, err := io.ReadAll(zr); err != nil || !bytes.Equal(un, js) {
		t.Errorf("GET %s (gzip): does not inflate to the bundle: %v", watchJS, err)
	}
	if rsp, _ := mediaGet(t, h, "GET", watchJS, map[string]string{"Accept-Encoding": "gzip;q=0"}); rsp.Header.Get("Content-Encoding") != "" {
		t.Error("gzip;q=0 got gzip")
	}
	if rsp, b := mediaGet(t, h, "HEAD", watchJS, nil); rsp.StatusCode != 200 || len(b) != 0 || rsp.Header.Get("Content-Length") == "" {
		t.Errorf("HEAD %s: %d, %d bytes, %v", watchJS, rsp.StatusCode, len(b), rsp.Header)
	}
	_, pub := mediaGet(t, h, "GET", "/web/publish.js", nil)
	if !bytes.Contains(pub, []byte(`customElements.define("moq-publish"`)) || bytes.Contains(pub, []byte(`customElements.define("moq-watch"`)) {
		t.Error("/web/publish.js is not the publish bundle alone")
	}
	for _, p := range []string{"/web/", "/web/nope.js", "/web/watch.000000000000.js", "/web/../media.html"} {
		// (ServeMux redirects /web/../x to /x, which is 404 too.)
		if rsp, _ := mediaGet(t, h, "GET", p, nil); rsp.StatusCode != http.StatusNotFound && rsp.StatusCode != http.StatusTemporaryRedirect {
			t.Errorf("GET %s: %d, want 404", p, rsp.StatusCode)
		}
	}
}
