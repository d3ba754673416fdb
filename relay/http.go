package relay

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gomoq/gomoq/moqt"
)

// FetchTimeout bounds how long /fetch waits for a group.
const FetchTimeout = 10 * time.Second

// HTTPOptions configures HTTPHandlerWith.
type HTTPOptions struct {
	// CertSHA256 returns the lowercase hex SHA-256 of the certificate the
	// relay serves now, for /certificate.sha256 and the landing page; it
	// is called for each request, so that they follow a certificate
	// reloaded or renewed. Nil serves "".
	CertSHA256 func() string
	// SelfSigned says the certificate is a self-signed development one,
	// which clients pin by its hash: the landing page then shows the hash
	// and snippets that pin it. For a certificate clients verify, leave it
	// false.
	SelfSigned bool
	// QUICPort is the UDP port of the relay's QUIC listener, for the
	// landing page's URLs, when it is not the port the HTTP request came
	// to (0: the same port).
	QUICPort int
}

func (o *HTTPOptions) certSHA256() string {
	if o.CertSHA256 == nil {
		return ""
	}
	return o.CertSHA256()
}

// HTTPHandler is HTTPHandlerWith for a self-signed certificate whose
// SHA-256 is certSHA256 (none if "").
func (r *Relay) HTTPHandler(certSHA256 string) http.Handler {
	return r.HTTPHandlerWith(HTTPOptions{CertSHA256: func() string { return certSHA256 }, SelfSigned: certSHA256 != ""})
}

// HTTPHandlerWith returns the relay's HTTP endpoints, for plain HTTP on
// TCP next to the QUIC port:
//   - GET /: a landing page (HTML) that says what this server is, gives
//     its WebTransport URL (from the request's Host), the certificate hash
//     when it is self-signed, the live broadcasts (which the page refreshes
//     from /announced/, passing on its own ?jwt=) and snippets to connect
//     with @moq/net and the moq CLI;
//   - GET /certificate.sha256: what opts.CertSHA256 returns (lowercase
//     hex, no newline), for browsers to pin a self-signed certificate;
//   - GET /announced/{prefix...}: the active broadcast paths under prefix,
//     one per line;
//   - GET /fetch/{broadcast...}/{track}: the payloads of the latest group
//     (?group=N for a cached group N), concatenated; 404 when unknown;
//   - GET /health: "ok";
//   - GET /watch?name=BROADCAST and GET /publish?name=BROADCAST: pages that
//     play a broadcast (@moq/watch) or publish a camera or screen to it
//     (@moq/publish, ?source=camera or screen, else chosen in the page),
//     connected to this relay through the page's own origin; without a
//     name, a form asks for one. Their scripts, GET /web/watch.js and
//     /web/publish.js, are embedded in the binary (built from web/ by
//     scripts/build-web) and linked by a name holding their hash, which is
//     cached for good.
//
// Other paths are 404. Every response allows any origin (CORS *).
func (r *Relay) HTTPHandlerWith(opts HTTPOptions) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, req *http.Request) { r.serveLanding(w, req, &opts) })
	mux.HandleFunc("GET /watch", func(w http.ResponseWriter, req *http.Request) { r.serveMedia(w, req, &opts, false) })
	mux.HandleFunc("GET /publish", func(w http.ResponseWriter, req *http.Request) { r.serveMedia(w, req, &opts, true) })
	mux.HandleFunc("GET /web/{file}", serveAsset)
	mux.HandleFunc("GET /certificate.sha256", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte(opts.certSHA256()))
	})
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte("ok\n"))
	})
	announced := func(w http.ResponseWriter, req *http.Request) {
		acc, ok := r.httpAccess(w, req, req.PathValue("prefix"))
		if !ok {
			return
		}
		var paths []string
		for _, a := range r.mux.Announcements(moqt.BroadcastPath(req.PathValue("prefix"))) {
			if acc.CanSubscribe(a.BroadcastPath()) {
				paths = append(paths, strings.TrimPrefix(a.BroadcastPath().String(), "/"))
			}
		}
		sort.Strings(paths)
		w.Header().Set("Content-Type", "text/plain")
		for _, p := range paths {
			w.Write([]byte(p + "\n"))
		}
	}
	mux.HandleFunc("GET /announced", announced)
	mux.HandleFunc("GET /announced/{prefix...}", announced)
	mux.HandleFunc("GET /fetch/{path...}", func(w http.ResponseWriter, req *http.Request) {
		p := strings.Trim(req.PathValue("path"), "/")
		i := strings.LastIndexByte(p, '/')
		if i < 0 {
			http.Error(w, "want /fetch/{broadcast}/{track}", http.StatusBadRequest)
			return
		}
		acc, ok := r.httpAccess(w, req, p[:i])
		if !ok {
			return
		}
		if !acc.CanSubscribe(moqt.BroadcastPath(p[:i])) {
			r.logger.Info("relay: fetch refused", "remote", req.RemoteAddr, "path", p[:i])
			http.Error(w, "not allowed to subscribe to "+p[:i], http.StatusForbidden)
			return
		}
		var seq *uint64
		if g := req.URL.Query().Get("group"); g != "" && g != "latest" {
			n, err := strconv.ParseUint(g, 10, 64)
			if err != nil {
				http.Error(w, "bad group", http.StatusBadRequest)
				return
			}
			seq = &n
		}
		ctx, cancel := context.WithTimeout(req.Context(), FetchTimeout)
		defer cancel()
		g, release, err := r.FetchGroup(ctx, moqt.BroadcastPath(p[:i]), moqt.TrackName(p[i+1:]), seq)
		switch {
		case errors.Is(err, context.DeadlineExceeded):
			http.Error(w, "timed out waiting for a group", http.StatusGatewayTimeout)
			return
		case err != nil:
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		defer release()
		// Stream the group's frames as they arrive; the response ends
		// with the group (an aborted group cuts the response short).
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("X-Moq-Group", strconv.FormatUint(g.Sequence(), 10))
		flusher, _ := w.(http.Flusher)
		n := 0
		for {
			frames, st, changed := g.Frames(n)
			for _, f := range frames {
				if _, err := w.Write(f.Payload); err != nil {
					return
				}
			}
			n += len(frames)
			if st.Aborted {
				panic(http.ErrAbortHandler) // cut the response: the group is incomplete
			}
			if st.Done {
				return
			}
			if flusher != nil && len(frames) > 0 {
				flusher.Flush()
			}
			select {
			case <-changed:
			case <-req.Context().Done():
				return
			}
		}
	})
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		mux.ServeHTTP(w, req)
	})
}

// httpAccess authorizes an HTTP request about path with its ?jwt=, as a
// session at that path would be; it answers the refusal itself.
func (r *Relay) httpAccess(w http.ResponseWriter, req *http.Request, path string) (*Access, bool) {
	acc, err := r.authorize(&moqt.SetupRequest{Path: "/" + path, URL: req.URL, RemoteAddr: req.RemoteAddr, Request: req})
	if err == nil {
		return acc, true
	}
	status, reason := http.StatusInternalServerError, "authorization failed"
	var ae *AuthError
	if errors.As(err, &ae) {
		status, reason = ae.Status, ae.Reason
	}
	r.logger.Info("relay: HTTP request refused", "remote", req.RemoteAddr, "path", path, "status", status, "reason", err)
	http.Error(w, reason, status)
	return nil, false
}

// ErrNotFound is returned by Fetch for an unknown broadcast, track or group.
var ErrNotFound = errors.New("relay: not found")

// FetchGroup returns a group of a relayed track: the latest one (waiting,
// within ctx, for the first to arrive), or group *seq if it is cached. The
// group may still be in progress: follow it with GroupBuffer.Frames. It
// subscribes upstream if no one does yet; call release when done.
func (r *Relay) FetchGroup(ctx context.Context, path moqt.BroadcastPath, name moqt.TrackName, seq *uint64) (g *moqt.GroupBuffer, release func(), err error) {
	h, ok := r.mux.Handler(path)
	if !ok {
		return nil, nil, ErrNotFound
	}
	b, ok := h.(*broadcast)
	if !ok {
		return nil, nil, ErrNotFound
	}
	t, ok := b.track(string(name), nil)
	if !ok {
		return nil, nil, ErrNotFound
	}
	if err := t.wait(ctx); err != nil {
		t.release()
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, nil, err
		}
		return nil, nil, ErrNotFound
	}
	g, err = t.fetch(ctx, seq)
	if err != nil {
		t.release()
		return nil, nil, err
	}
	r.fetches.Add(1)
	return g, t.release, nil
}
