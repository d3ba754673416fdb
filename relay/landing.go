package relay

import (
	_ "embed"
	"html/template"
	"net"
	"net/http"
	"strconv"
	"strings"
)

//go:embed landing.html
var landingHTML string

var landingTemplate = template.Must(template.New("landing").Parse(landingHTML))

// landingData is what the landing page shows; html/template escapes all of
// it (the host comes from the request).
type landingData struct {
	Host   string // the QUIC host and port: the request's Host (with HTTPOptions.QUICPort)
	CLIURL string // the URL (and flags) the moq CLI connects with
	Hash   string // the self-signed certificate's SHA-256, else ""
	Auth   bool   // the relay checks tokens
}

// serveLanding serves GET /: what this server is, its URLs, the
// certificate hash of a self-signed certificate, the live broadcasts
// (refreshed by the page from /announced/) and snippets to connect.
func (r *Relay) serveLanding(w http.ResponseWriter, req *http.Request, opts *HTTPOptions) {
	d := landingData{Host: req.Host, Auth: r.opts.Auth != nil}
	if d.Host == "" {
		d.Host = "localhost"
	}
	if opts.QUICPort != 0 {
		h := d.Host
		if host, _, err := net.SplitHostPort(h); err == nil {
			h = host
		}
		d.Host = net.JoinHostPort(strings.Trim(h, "[]"), strconv.Itoa(opts.QUICPort))
	}
	// A certificate is verified, or, self-signed, pinned by its hash: the
	// CLI's http:// URL fetches it from /certificate.sha256 on the QUIC
	// port, which only works when HTTP shares that port.
	d.CLIURL = "https://" + d.Host + "/"
	if opts.SelfSigned {
		d.Hash = opts.certSHA256()
		d.CLIURL = "http://" + d.Host + "/"
		if opts.QUICPort != 0 {
			d.CLIURL = "moqt://" + d.Host + "/ --tls-insecure"
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	// Everything is inline; the page talks only to this server.
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if err := landingTemplate.Execute(w, &d); err != nil {
		r.logger.Debug("relay: landing page", "remote", req.RemoteAddr, "error", err)
	}
}
