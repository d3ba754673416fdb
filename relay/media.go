package relay

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
)

// The /watch and /publish pages' scripts: @moq/watch and @moq/publish
// bundled by web/build.mjs (scripts/build-web), one bundle per page.
//
//go:embed web/watch.js web/publish.js
var webFS embed.FS

//go:embed media.html
var mediaHTML string

var mediaTemplate = template.Must(template.New("media").Parse(mediaHTML))

// asset is an embedded script, served under a name that holds its hash
// (cached for good) and under its plain name (revalidated by ETag).
type asset struct {
	name   string // "watch.js"
	hashed string // "watch.0123456789ab.js"
	etag   string
	body   []byte

	gzipOnce sync.Once
	gzipped  []byte // nil until first asked for, or when it does not shrink
}

var (
	assetsOnce sync.Once
	assets     map[string]*asset // by plain and hashed name
)

func webAssets() map[string]*asset {
	assetsOnce.Do(func() {
		assets = map[string]*asset{}
		for _, name := range []string{"watch.js", "publish.js"} {
			body, err := webFS.ReadFile("web/" + name)
			if err != nil {
				panic("relay: embedded " + name + ": " + err.Error())
			}
			sum := sha256.Sum256(body)
			h := hex.EncodeToString(sum[:6])
			a := &asset{name: name, hashed: strings.TrimSuffix(name, ".js") + "." + h + ".js", etag: `"` + h + `"`, body: body}
			assets[a.name], assets[a.hashed] = a, a
		}
	})
	return assets
}

func (a *asset) gzip() []byte {
	a.gzipOnce.Do(func() {
		var b bytes.Buffer
		w, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
		w.Write(a.body)
		w.Close()
		if b.Len() < len(a.body) {
			a.gzipped = b.Bytes()
		}
	})
	return a.gzipped
}

// serveAsset serves GET /web/{file}: a hashed name is immutable, a plain
// one is revalidated with its ETag; gzip when the client accepts it.
func serveAsset(w http.ResponseWriter, req *http.Request) {
	file := req.PathValue("file")
	a, ok := webAssets()[file]
	if !ok {
		http.NotFound(w, req)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/javascript; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("ETag", a.etag)
	h.Set("Vary", "Accept-Encoding")
	if file == a.hashed {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	if etagMatch(req.Header.Get("If-None-Match"), a.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := a.body
	if acceptsGzip(req.Header.Get("Accept-Encoding")) {
		if gz := a.gzip(); gz != nil {
			h.Set("Content-Encoding", "gzip")
			body = gz
		}
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if req.Method == http.MethodHead {
		return
	}
	w.Write(body)
}

func etagMatch(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == etag {
			return true
		}
	}
	return false
}

func acceptsGzip(header string) bool {
	for _, e := range strings.Split(header, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(e), ";")
		if strings.EqualFold(strings.TrimSpace(name), "gzip") {
			q := strings.ReplaceAll(params, " ", "")
			return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
		}
	}
	return false
}

// mediaData is what media.html shows; html/template escapes all of it.
type mediaData struct {
	Publish  bool   // /publish, else /watch
	Name     string // the broadcast, "" for the name form alone
	Source   string // /publish: "camera", "screen" or "" (chosen in the page)
	Script   string // the page's script, by its hashed name
	QUICPort string // the QUIC port when it is not the page's own, else ""
	CertHash string // with QUICPort, a self-signed certificate's SHA-256 (hex), else ""
	JWT      string // the page's ?jwt=, passed on to the form and links
	Other    string // the other page's URL for Name (/publish links /watch and back)
}

// serveMedia serves GET /watch and GET /publish: a page holding
// <moq-watch> or <moq-publish> (with their controls) for the broadcast
// ?name=, connected to this relay (the page's script derives the URL from
// the page's own location, so a self-signed certificate is pinned through
// /certificate.sha256); without a name, a form asks for one.
func (r *Relay) serveMedia(w http.ResponseWriter, req *http.Request, opts *HTTPOptions, publish bool) {
	q := req.URL.Query()
	d := mediaData{Publish: publish, Name: strings.Trim(q.Get("name"), "/ ")}
	script := "watch.js"
	if publish {
		script = "publish.js"
		switch s := q.Get("source"); s {
		case "camera", "screen":
			d.Source = s
		}
	}
	d.Script = "/web/" + webAssets()[script].hashed
	if opts.QUICPort != 0 {
		d.QUICPort = strconv.Itoa(opts.QUICPort)
		if opts.SelfSigned {
			d.CertHash = opts.certSHA256()
		}
	}
	d.JWT = q.Get("jwt")
	other := url.Values{}
	if d.Name != "" {
		other.Set("name", d.Name)
	}
	if d.JWT != "" {
		other.Set("jwt", d.JWT)
	}
	d.Other = "/publish"
	if publish {
		d.Other = "/watch"
	}
	if len(other) > 0 {
		d.Other += "?" + other.Encode()
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	// The scripts are this server's; the players build AudioWorklets from
	// blob: URLs and style their shadow DOM inline; they connect to the
	// relay (its QUIC port may differ from this page's).
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self' blob:; worker-src 'self' blob:; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; media-src 'self' blob: mediastream:; connect-src 'self' https: http: wss: ws:; object-src 'none'; base-uri 'none'; form-action 'self'")
	h.Set("X-Content-Type-Options", "nosniff")
	if err := mediaTemplate.Execute(w, &d); err != nil {
		r.logger.Debug("relay: media page", "remote", req.RemoteAddr, "error", err)
	}
}
