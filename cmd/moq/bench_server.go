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
	"sync"

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
	if err := fs.Parse(args); err != nil {
		return err
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
		key uint64
		p   []byte
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
				defer forward(fwdItem{key: key})
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
					forward(fwdItem{key: key, p: p})
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
			streams := map[uint64]quic.SendStream{}
			var buf []byte
			for {
				var it fwdItem
				select {
				case it = <-ch:
				case <-conn.Context().Done():
					return
				}
				str := streams[it.key]
				if it.p == nil {
					if str != nil {
						str.Close()
						delete(streams, it.key)
					}
					continue
				}
				if str == nil {
					var err error
					if str, err = conn.OpenUniStreamSync(conn.Context()); err != nil {
						return
					}
					streams[it.key] = str
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
