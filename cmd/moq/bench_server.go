package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"slices"
	"sync"
	"syscall"

	"github.com/gomoq/gomoq/internal/selfsign"
	"github.com/gomoq/gomoq/moqt"
	"github.com/gomoq/gomoq/quic"
	"github.com/gomoq/gomoq/relay"
	"github.com/quic-go/quic-go/quicvarint"
)

// baselineALPN is the ALPN of the baseline server's subscribers: raw QUIC,
// no MoQ. baselinePubALPN is its publisher's; baselineIdleALPN that of
// idle connections (--idle), which it holds and sends nothing.
const (
	baselineALPN     = "gomoq-bench-baseline"
	baselinePubALPN  = "gomoq-bench-baseline-pub"
	baselineIdleALPN = "gomoq-bench-baseline-idle"
)

// runBenchServer is the server process of `moq bench`: the relay, or the
// baseline (a plain quic-go server sending the same traffic itself). It
// prints "ADDR host:port" once listening and serves until killed.
func runBenchServer(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("moq bench-server", flag.ContinueOnError)
	mode := fs.String("mode", "relay", "relay or baseline")
	listen := fs.String("listen", "127.0.0.1:0", "UDP address")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the server to `file`")
	memProfile := fs.String("memprofile", "", "on SIGUSR1, write a heap profile of the server to `file` and log its goroutine count")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *memProfile != "" {
		usr1 := make(chan os.Signal, 1)
		signal.Notify(usr1, syscall.SIGUSR1)
		defer signal.Stop(usr1)
		go func() {
			for range usr1 {
				if err := writeHeapProfile(*memProfile); err != nil {
					fmt.Fprintf(os.Stderr, "moq bench-server: heap profile: %v\n", err)
					continue
				}
				fmt.Fprintf(os.Stderr, "moq bench-server: heap profile written to %s; %d goroutines\n", *memProfile, runtime.NumGoroutine())
			}
		}()
	}
	cert, err := selfsign.Generate([]string{"localhost", "127.0.0.1"}, 0)
	if err != nil {
		return err
	}
	stopProfile, err := startCPUProfile(*cpuProfile)
	if err != nil {
		return err
	}
	defer stopProfile()
	if *mode == "baseline" {
		return serveBaseline(ctx, *listen, cert.TLS)
	}
	r := relay.New(relay.Options{Logger: slog.New(slog.DiscardHandler)})
	defer r.Close()
	srv := &moqt.Server{
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert.TLS}},
		Config:    &moqt.Config{CheckHTTPOrigin: func(*http.Request) bool { return true }},
	}
	srv.Handler = moqt.SetupHandlerFunc(func(w moqt.SetupResponseWriter, req *moqt.SetupRequest) {
		sess, err := srv.Accept(w, req, r.Mux())
		if err == nil {
			go r.ServeSession(sess)
		}
	})
	tc := srv.TLSConfig.Clone()
	tc.NextProtos = srv.NextProtos(nil)
	ln, err := quic.ListenAddr(*listen, tc, srv.QUICListenConfig())
	if err != nil {
		return err
	}
	// WebSocket (QMux) subscribers connect to TCP of the same port, as to
	// moq-relay.
	tcp, err := net.Listen("tcp", ln.Addr().String())
	if err != nil {
		ln.Close()
		return fmt.Errorf("TCP listener for WebSocket: %w", err)
	}
	hs := &http.Server{Handler: r.WebSocketHandler(srv, http.NotFoundHandler())}
	go hs.Serve(tcp)
	fmt.Printf("ADDR %s\n", ln.Addr())
	go func() {
		<-ctx.Done()
		hs.Close()
		srv.Close()
	}()
	srv.ServeQUICListener(ln)
	return nil
}

// serveBaseline is the ceiling the relay is compared with: a plain quic-go
// forwarder. The publisher (in the clients process, as the relay's) sends
// its tracks to it over QUIC, one uni stream per group, each frame a varint
// length and the payload; it writes every frame to each subscriber
// connection, mirroring the publisher's streams (one uni stream per group),
// one writer goroutine per connection. So both pay for ingest and fan-out,
// and the ratio measures what MoQ and the relay add. A connection that
// joins in the middle of a group gets the rest of that group on a new
// stream, from the next frame on.
func serveBaseline(ctx context.Context, listen string, cert tls.Certificate) error {
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{baselineALPN, baselinePubALPN, baselineIdleALPN}}
	ln, err := quic.ListenAddr(listen, tc, &quic.Config{})
	if err != nil {
		return err
	}
	fmt.Printf("ADDR %s\n", ln.Addr())
	// fwdItem is one frame of the publisher's stream key (p nil: the
	// stream ended).
	type fwdItem struct {
		key   uint64
		track uint8 // the bench header's track number
		p     []byte
	}
	var (
		mu      sync.Mutex
		conns   = map[chan fwdItem]struct{}{}
		nextKey uint64
	)
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	forward := func(it fwdItem) {
		mu.Lock()
		for ch := range conns {
			select {
			case ch <- it:
			default: // this connection is behind: the frame is lost for it
			}
		}
		mu.Unlock()
	}
	ingest := func(conn quic.Connection) {
		for {
			str, err := conn.AcceptUniStream(conn.Context())
			if err != nil {
				return
			}
			mu.Lock()
			key := nextKey
			nextKey++
			mu.Unlock()
			go func() {
				var track uint8
				defer func() { forward(fwdItem{key: key, track: track}) }()
				br := bufio.NewReader(str)
				for {
					n, err := quicvarint.Read(br)
					if err != nil || n > 1<<20 {
						return
					}
					p := make([]byte, n)
					if _, err := io.ReadFull(br, p); err != nil {
						return
					}
					if len(p) >= benchHeader && p[8] < maxTracks {
						track = p[8]
					}
					forward(fwdItem{key: key, track: track, p: p})
				}
			}()
		}
	}
	for {
		conn, err := ln.Accept(context.Background())
		if err != nil {
			return nil
		}
		switch conn.ConnectionState().Protocol {
		case baselinePubALPN:
			go ingest(conn)
			continue
		case baselineIdleALPN:
			continue // held until the peer closes it
		}
		ch := make(chan fwdItem, 4096)
		mu.Lock()
		conns[ch] = struct{}{}
		mu.Unlock()
		go func() {
			defer func() {
				mu.Lock()
				delete(conns, ch)
				mu.Unlock()
			}()
			st := newFwdStreams(func() (quic.SendStream, error) { return conn.OpenUniStreamSync(conn.Context()) })
			var buf []byte
			for {
				var it fwdItem
				select {
				case it = <-ch:
				case <-conn.Context().Done():
					return
				}
				if it.p == nil {
					st.end(it.track, it.key)
					continue
				}
				str, err := st.stream(it.track, it.key)
				if err != nil {
					return
				}
				if str == nil {
					continue
				}
				// One Write per frame, as gomoq's GroupWriter does for
				// small frames, so header and payload share a packet.
				buf = quicvarint.Append(buf[:0], uint64(len(it.p)))
				buf = append(buf, it.p...)
				if _, err := str.Write(buf); err != nil {
					return
				}
			}
		}()
	}
}

// fwdStreams is the baseline forwarder's table of the streams one
// connection is sent, by the publisher's stream key: open, or nil once
// closed (a late frame of a closed stream is dropped). A stream's end may
// have been dropped for a connection that was behind, so at most
// fwdMaxOpen streams of each track stay open (the oldest is closed), and
// only the last fwdKeep closed keys are remembered: a connection never
// exhausts its peer's stream limit.
type fwdStreams struct {
	openStream func() (quic.SendStream, error)
	streams    map[uint64]quic.SendStream
	open       [maxTracks][]uint64 // open keys per track, oldest first
	closed     []uint64            // closed keys, oldest first
}

const fwdMaxOpen, fwdKeep = 4, 256

func newFwdStreams(open func() (quic.SendStream, error)) *fwdStreams {
	return &fwdStreams{openStream: open, streams: map[uint64]quic.SendStream{}}
}

// stream returns the stream to write key's frame on, opening it on its
// first frame; nil if key was closed (the frame is late).
func (f *fwdStreams) stream(track uint8, key uint64) (quic.SendStream, error) {
	str, seen := f.streams[key]
	if seen {
		return str, nil
	}
	str, err := f.openStream()
	if err != nil {
		return nil, err
	}
	f.streams[key] = str
	f.open[track] = append(f.open[track], key)
	if len(f.open[track]) > fwdMaxOpen {
		oldest := slices.Min(f.open[track])
		f.end(track, oldest)
		if oldest == key { // a late stream, older than all
			return nil, nil
		}
	}
	return str, nil
}

// end closes key's stream (the publisher's stream ended).
func (f *fwdStreams) end(track uint8, key uint64) {
	if str := f.streams[key]; str != nil {
		str.Close()
		f.open[track] = slices.DeleteFunc(f.open[track], func(x uint64) bool { return x == key })
	}
	f.streams[key] = nil
	f.closed = append(f.closed, key)
	if len(f.closed) > fwdKeep {
		if f.streams[f.closed[0]] == nil {
			delete(f.streams, f.closed[0])
		}
		f.closed = f.closed[1:]
	}
}

// writeHeapProfile writes the live heap (after a collection) to path, and
// the goroutines, counted by stack, to path.goroutines.
func writeHeapProfile(path string) error {
	runtime.GC()
	for _, p := range []struct {
		name, path string
		debug      int
	}{{"heap", path, 0}, {"goroutine", path + ".goroutines", 1}} {
		f, err := os.Create(p.path)
		if err != nil {
			return err
		}
		if err := pprof.Lookup(p.name).WriteTo(f, p.debug); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	return nil
}
