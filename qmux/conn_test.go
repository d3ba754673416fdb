package qmux

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	quicgo "github.com/quic-go/quic-go"
	"go.uber.org/goleak"

	"github.com/gomoq/gomoq/quic"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// pair connects a client and a server Conn over a real WebSocket on
// loopback.
func pair(t *testing.T, v Version, ccfg, scfg *Config) (client, server *Conn) {
	t.Helper()
	proto := Subprotocol(v, "test")
	srvc := make(chan *Conn, 1)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{proto}})
		if err != nil {
			t.Errorf("accept: %v", err)
			return
		}
		cfg := &Config{}
		if scfg != nil {
			*cfg = *scfg
		}
		cfg.Version, cfg.Protocol = v, "test"
		srvc <- Server(WebSocket(ws, nil, nil), cfg)
	}))
	t.Cleanup(hs.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(hs.URL, "http"), &websocket.DialOptions{Subprotocols: []string{proto}})
	if err != nil {
		t.Fatal(err)
	}
	if ws.Subprotocol() != proto {
		t.Fatalf("subprotocol %q", ws.Subprotocol())
	}
	cfg := &Config{}
	if ccfg != nil {
		*cfg = *ccfg
	}
	cfg.Version, cfg.Protocol = v, "test"
	client = Client(WebSocket(ws, nil, nil), cfg)
	server = <-srvc
	t.Cleanup(func() {
		client.CloseWithError(0, "")
		server.CloseWithError(0, "")
	})
	return client, server
}

func eachVersion(t *testing.T, f func(t *testing.T, v Version)) {
	for _, v := range Versions {
		t.Run(v.String(), func(t *testing.T) { f(t, v) })
	}
}

func TestStreamsBothWays(t *testing.T) {
	eachVersion(t, func(t *testing.T, v Version) {
		c, s := pair(t, v, nil, nil)
		ctx := context.Background()
		// A bidi stream from each side, echoed; a uni stream from each side.
		for _, dir := range []struct {
			name     string
			from, to *Conn
		}{{"client", c, s}, {"server", s, c}} {
			msg := make([]byte, 3<<20) // several windows and records
			rand.Read(msg)
			str, err := dir.from.OpenStreamSync(ctx)
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() {
				in, err := dir.to.AcceptStream(ctx)
				if err != nil {
					done <- err
					return
				}
				_, err = io.Copy(in, in) // echo
				if err == nil {
					err = in.Close()
				}
				done <- err
			}()
			go func() {
				str.Write(msg)
				str.Close()
			}()
			got, err := io.ReadAll(str)
			if err != nil {
				t.Fatalf("%s: read: %v", dir.name, err)
			}
			if err := <-done; err != nil {
				t.Fatalf("%s: echo: %v", dir.name, err)
			}
			if !bytes.Equal(got, msg) {
				t.Fatalf("%s: echoed %d bytes, want %d identical", dir.name, len(got), len(msg))
			}
			u, err := dir.from.OpenUniStreamSync(ctx)
			if err != nil {
				t.Fatal(err)
			}
			u.Write([]byte("uni " + dir.name))
			u.Close()
			in, err := dir.to.AcceptUniStream(ctx)
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(in)
			if err != nil || string(b) != "uni "+dir.name {
				t.Fatalf("uni: %q, %v", b, err)
			}
		}
		if p := c.ConnectionState().Protocol; p != "test" {
			t.Fatalf("protocol %q", p)
		}
	})
}

func TestResetAndStopSending(t *testing.T) {
	eachVersion(t, func(t *testing.T, v Version) {
		c, s := pair(t, v, nil, nil)
		ctx := context.Background()
		u, _ := c.OpenUniStreamSync(ctx)
		u.Write([]byte("partial"))
		u.CancelWrite(42)
		in, err := s.AcceptUniStream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		_, err = io.ReadAll(in)
		var se *quicgo.StreamError
		if !errors.As(err, &se) || se.ErrorCode != 42 || !se.Remote {
			t.Fatalf("read after reset: %v", err)
		}
		// STOP_SENDING: the writer learns the code, with Remote set.
		u2, _ := c.OpenUniStreamSync(ctx)
		u2.Write([]byte("x"))
		in2, _ := s.AcceptUniStream(ctx)
		in2.CancelRead(7)
		<-u2.Context().Done()
		_, err = u2.Write([]byte("more"))
		if !errors.As(err, &se) || se.ErrorCode != 7 || !se.Remote {
			t.Fatalf("write after STOP_SENDING: %v", err)
		}
		if _, err := in2.Read(make([]byte, 1)); !errors.As(err, &se) || se.Remote || se.ErrorCode != 7 {
			t.Fatalf("read after CancelRead: %v", err)
		}
	})
}

func TestStreamLimit(t *testing.T) {
	c, s := pair(t, Draft02, nil, &Config{MaxIncomingUniStreams: 3})
	ctx := context.Background()
	<-c.HandshakeComplete()
	var opened []quic.SendStream
	for range 3 {
		u, err := c.OpenUniStream()
		if err != nil {
			t.Fatal(err)
		}
		opened = append(opened, u)
	}
	if _, err := c.OpenUniStream(); err == nil {
		t.Fatal("a fourth stream opened beyond the limit of 3")
	}
	got := make(chan error, 1)
	go func() {
		_, err := c.OpenUniStreamSync(ctx)
		got <- err
	}()
	// Finishing one stream (FIN read to the end) gives credit for one more.
	opened[0].Close()
	in, _ := s.AcceptUniStream(ctx)
	io.ReadAll(in)
	if err := <-got; err != nil {
		t.Fatal(err)
	}
}

func TestCloseCodeAndReason(t *testing.T) {
	eachVersion(t, func(t *testing.T, v Version) {
		c, s := pair(t, v, nil, nil)
		<-c.HandshakeComplete()
		c.CloseWithError(0x11, "bye now")
		<-s.Context().Done()
		var ae *quicgo.ApplicationError
		if err := context.Cause(s.Context()); !errors.As(err, &ae) || ae.ErrorCode != 0x11 || ae.ErrorMessage != "bye now" || !ae.Remote {
			t.Fatalf("server saw %v", err)
		}
		if _, err := s.AcceptStream(context.Background()); !errors.As(err, &ae) {
			t.Fatalf("accept after close: %v", err)
		}
	})
}

func TestDatagrams(t *testing.T) {
	c, s := pair(t, Draft01, &Config{EnableDatagrams: true}, &Config{EnableDatagrams: true})
	<-c.HandshakeComplete()
	<-s.HandshakeComplete()
	if !c.ConnectionState().SupportsDatagrams {
		t.Fatal("datagrams not negotiated")
	}
	if err := c.SendDatagram([]byte("dgram")); err != nil {
		t.Fatal(err)
	}
	b, err := s.ReceiveDatagram(context.Background())
	if err != nil || string(b) != "dgram" {
		t.Fatalf("%q %v", b, err)
	}
	var tl *quicgo.DatagramTooLargeError
	if err := c.SendDatagram(make([]byte, 20000)); !errors.As(err, &tl) {
		t.Fatalf("large datagram: %v", err)
	}
	// Draft00 has none.
	c0, _ := pair(t, Draft00, &Config{EnableDatagrams: true}, &Config{EnableDatagrams: true})
	<-c0.HandshakeComplete()
	if c0.ConnectionState().SupportsDatagrams {
		t.Fatal("datagrams on qmux-00")
	}
}

// A stalled reader holds the sender at the stream window: nothing is
// buffered beyond it, and the rest arrives once it reads.
func TestFlowControlBoundsBuffering(t *testing.T) {
	c, s := pair(t, Draft02, nil, &Config{StreamReceiveWindow: 64 << 10, ConnectionReceiveWindow: 256 << 10})
	ctx := context.Background()
	blockedAt := make(chan uint64, 1)
	c.mu.Lock()
	c.onStreamBlocked = func(s *stream) {
		select {
		case blockedAt <- s.soff:
		default:
		}
	}
	c.mu.Unlock()
	u, _ := c.OpenUniStreamSync(ctx)
	msg := make([]byte, 1<<20)
	rand.Read(msg)
	wrote := make(chan error, 1)
	go func() {
		_, err := u.Write(msg)
		u.Close()
		wrote <- err
	}()
	in, _ := s.AcceptUniStream(ctx)
	// The sender stops at the window, having sent exactly that much.
	select {
	case soff := <-blockedAt:
		if soff != 64<<10 {
			t.Fatalf("sender blocked after %d bytes, want the 64 KiB window", soff)
		}
	case err := <-wrote:
		t.Fatalf("write finished (%v) past the receiver's window", err)
	}
	got, err := io.ReadAll(in)
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("read %d bytes, %v", len(got), err)
	}
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
}

// A peer that upgrades and then sends nothing is dropped after the
// handshake timeout.
func TestHandshakeTimeout(t *testing.T) {
	proto := Subprotocol(Draft02, "test")
	srvc := make(chan *Conn, 1)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{proto}})
		if err != nil {
			return
		}
		srvc <- Server(WebSocket(ws, nil, nil), &Config{Version: Draft02, HandshakeTimeout: 50 * time.Millisecond})
	}))
	defer hs.Close()
	ws, _, err := websocket.Dial(context.Background(), "ws"+strings.TrimPrefix(hs.URL, "http"), &websocket.DialOptions{Subprotocols: []string{proto}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	// Read what the server sends (its parameters, then its close) until
	// the socket ends.
	go func() {
		for {
			if _, _, err := ws.Read(context.Background()); err != nil {
				return
			}
		}
	}()
	s := <-srvc
	<-s.Context().Done()
	var he *quicgo.HandshakeTimeoutError
	if err := context.Cause(s.Context()); !errors.As(err, &he) {
		t.Fatalf("closed with %v, want a handshake timeout", err)
	}
	s.CloseWithError(0, "")
}

// Many streams at once, both ways, each delivered whole and in order.
func TestManyConcurrentStreams(t *testing.T) {
	c, s := pair(t, Draft02, nil, nil)
	ctx := context.Background()
	const n = 200
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	wg.Go(func() {
		for i := range n {
			in, err := s.AcceptUniStream(ctx)
			if err != nil {
				errs <- err
				return
			}
			wg.Go(func() {
				b, err := io.ReadAll(in)
				if err != nil {
					errs <- err
					return
				}
				var k int
				fmt.Sscanf(string(b[:8]), "%08d", &k)
				if len(b) != 8+k*100 {
					errs <- fmt.Errorf("stream %d (%d): %d bytes", i, k, len(b))
				}
			})
		}
	})
	for i := range n {
		wg.Go(func() {
			u, err := c.OpenUniStreamSync(ctx)
			if err != nil {
				errs <- err
				return
			}
			b := append([]byte(fmt.Sprintf("%08d", i)), bytes.Repeat([]byte{byte(i)}, i*100)...)
			if _, err := u.Write(b); err != nil {
				errs <- err
			}
			u.Close()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// A peer that sent its parameters and then went silent (answering no
// QX_PING) is closed after the idle timeout, with quic-go's idle error.
func TestIdleTimeout(t *testing.T) {
	proto := Subprotocol(Draft02, "test")
	srvc := make(chan *Conn, 1)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{proto}})
		if err != nil {
			return
		}
		srvc <- Server(WebSocket(ws, nil, nil), &Config{Version: Draft02, MaxIdleTimeout: 100 * time.Millisecond})
	}))
	defer hs.Close()
	ws, _, err := websocket.Dial(context.Background(), "ws"+strings.TrimPrefix(hs.URL, "http"), &websocket.DialOptions{Subprotocols: []string{proto}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	tp := appendFrame(nil, &frame{typ: typeTransportParam, params: &params{idleTimeoutMs: 60000, maxData: 1 << 20, maxRecordSize: defaultMaxRecordSize}})
	if err := ws.Write(context.Background(), websocket.MessageBinary, tp); err != nil {
		t.Fatal(err)
	}
	// Read (and ignore) what the server sends: its parameters, its
	// QX_PINGs, its close.
	go func() {
		for {
			if _, _, err := ws.Read(context.Background()); err != nil {
				return
			}
		}
	}()
	s := <-srvc
	<-s.Context().Done()
	var ie *quicgo.IdleTimeoutError
	if err := context.Cause(s.Context()); !errors.As(err, &ie) {
		t.Fatalf("closed with %v, want an idle timeout", err)
	}
	s.CloseWithError(0, "")
}
