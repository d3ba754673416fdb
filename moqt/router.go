package moqt

import (
	"fmt"
	"net/http"
	"sync"
)

// SetupHandler answers setup requests: it accepts a session with
// Server.Accept, or refuses it with SetupResponseWriter.Reject.
type SetupHandler interface {
	ServeMOQ(SetupResponseWriter, *SetupRequest)
}

// SetupHandlerFunc adapts a function to a SetupHandler.
type SetupHandlerFunc func(SetupResponseWriter, *SetupRequest)

// ServeMOQ calls f(w, r).
func (f SetupHandlerFunc) ServeMOQ(w SetupResponseWriter, r *SetupRequest) { f(w, r) }

// Router routes setup requests by path to handlers. Paths match exactly,
// after normalization ("/room/" is "/room"); a request for a path with no
// handler is rejected with HTTP 404 (WebTransport) or a session close with
// a "no handler for path" reason (native QUIC).
type Router struct {
	mu       sync.RWMutex
	handlers map[string]SetupHandler
}

// NewRouter returns an empty Router.
func NewRouter() *Router { return &Router{} }

// DefaultRouter is the router used by a Server whose Handler is nil, and by
// the package-level Handle and HandleFunc.
var DefaultRouter = NewRouter()

// Handle registers handler for path. It panics if path already has one or
// handler is nil, like net/http.
func (r *Router) Handle(path string, handler SetupHandler) {
	if handler == nil {
		panic("moqt: nil SetupHandler")
	}
	p := cleanPath(path)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.handlers == nil {
		r.handlers = make(map[string]SetupHandler)
	}
	if _, ok := r.handlers[p]; ok {
		panic(fmt.Sprintf("moqt: multiple registrations for %q", "/"+p))
	}
	r.handlers[p] = handler
}

// HandleFunc registers f for path.
func (r *Router) HandleFunc(path string, f func(SetupResponseWriter, *SetupRequest)) {
	r.Handle(path, SetupHandlerFunc(f))
}

// Handler returns the handler registered for path.
func (r *Router) Handler(path string) (SetupHandler, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	h, ok := r.handlers[cleanPath(path)]
	return h, ok
}

// ServeMOQ routes the request to the handler of its path.
func (r *Router) ServeMOQ(w SetupResponseWriter, req *SetupRequest) {
	h, ok := r.Handler(req.Path)
	if !ok {
		w.Reject(http.StatusNotFound, fmt.Sprintf("moqt: no handler for path %q", "/"+cleanPath(req.Path)))
		return
	}
	h.ServeMOQ(w, req)
}

// Handle registers handler for path on DefaultRouter.
func Handle(path string, handler SetupHandler) { DefaultRouter.Handle(path, handler) }

// HandleFunc registers f for path on DefaultRouter.
func HandleFunc(path string, f func(SetupResponseWriter, *SetupRequest)) {
	DefaultRouter.HandleFunc(path, f)
}
