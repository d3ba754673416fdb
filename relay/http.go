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

// HTTPHandler returns the relay's HTTP endpoints, for plain HTTP on TCP next
// to the QUIC port:
//   - GET /certificate.sha256: certSHA256 (lowercase hex, no newline), for
//     browsers to pin a self-signed certificate;
//   - GET /announced/{prefix...}: the active broadcast paths under prefix,
//     one per line;
//   - GET /fetch/{broadcast...}/{track}: the payloads of the latest group
//     (?group=N for a cached group N), concatenated; 404 when unknown;
//   - GET /health: "ok".
//
// Every response allows any origin (CORS *).
func (r *Relay) HTTPHandler(certSHA256 string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /certificate.sha256", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte(certSHA256))
	})
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte("ok\n"))
	})
	announced := func(w http.ResponseWriter, req *http.Request) {
		var paths []string
		for _, a := range r.mux.Announcements(moqt.BroadcastPath(req.PathValue("prefix"))) {
			paths = append(paths, strings.TrimPrefix(a.BroadcastPath().String(), "/"))
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
		frames, err := r.Fetch(ctx, moqt.BroadcastPath(p[:i]), moqt.TrackName(p[i+1:]), seq)
		switch {
		case errors.Is(err, context.DeadlineExceeded):
			http.Error(w, "timed out waiting for the group", http.StatusGatewayTimeout)
			return
		case err != nil:
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		for _, f := range frames {
			w.Write(f.Payload)
		}
	})
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		mux.ServeHTTP(w, req)
	})
}

// ErrNotFound is returned by Fetch for an unknown broadcast, track or group.
var ErrNotFound = errors.New("relay: not found")

// Fetch returns the frames of a complete group of a relayed track: the
// latest one, or group *seq if it is cached. It subscribes upstream if no
// one does yet, and waits (within ctx) for the group to complete.
func (r *Relay) Fetch(ctx context.Context, path moqt.BroadcastPath, name moqt.TrackName, seq *uint64) ([]*moqt.Frame, error) {
	h, ok := r.mux.Handler(path)
	if !ok {
		return nil, ErrNotFound
	}
	b, ok := h.(*broadcast)
	if !ok {
		return nil, ErrNotFound
	}
	t, ok := b.track(string(name))
	if !ok {
		return nil, ErrNotFound
	}
	defer t.release()
	if err := t.wait(ctx); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, err
		}
		return nil, ErrNotFound
	}
	// Watch the track like a subscriber would, without writing anywhere.
	s := &subscriber{t: t, notify: make(chan struct{}, 1)}
	t.mu.Lock()
	t.subs[s] = struct{}{}
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		delete(t.subs, s)
		t.mu.Unlock()
	}()
	for {
		t.mu.Lock()
		var g *group
		if seq == nil {
			g = t.latest
		} else {
			for _, c := range t.groups {
				if c.seq == *seq {
					g = c
				}
			}
		}
		var frames []*moqt.Frame
		var done bool
		var gerr error
		if g != nil {
			frames, done, gerr = g.frames, g.done, g.err
		}
		ended := t.done && t.reading == 0
		t.mu.Unlock()
		switch {
		case g != nil && done && gerr == nil:
			return frames, nil
		case g == nil && seq != nil:
			return nil, ErrNotFound
		case ended:
			return nil, ErrNotFound
		}
		select {
		case <-s.notify:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}
