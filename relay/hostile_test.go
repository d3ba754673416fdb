package relay_test

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"fmt"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/gomoq/gomoq/moqt"
	"github.com/gomoq/gomoq/quic"
	"github.com/gomoq/gomoq/relay"
	"github.com/gomoq/gomoq/webtransport"
	"github.com/quic-go/quic-go/quicvarint"
)

// rawConn dials the relay without a MoQ session on top, to send arbitrary
// bytes: native QUIC with the version's ALPN, or a WebTransport session
// that negotiated it.
func rawConn(t *testing.T, r *testRelay, transport string, v moqt.Version) quic.Connection {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	tc := &tls.Config{RootCAs: cert.Pool()}
	var conn quic.Connection
	var err error
	if transport == "quic" {
		tc.NextProtos = []string{v.String()}
		conn, err = quic.DialAddr(ctx, r.addr, tc, &quic.Config{})
	} else {
		_, conn, err = webtransport.Dial(ctx, "https://"+r.addr+"/", nil, tc, nil, []string{v.String()})
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.CloseWithError(0, "") })
	return conn
}

// checkHealthy runs a fresh publisher and subscriber through the relay.
func checkHealthy(t *testing.T, r *testRelay, transport string, v moqt.Version) {
	t.Helper()
	path := moqt.BroadcastPath(fmt.Sprintf("/healthy-%d", time.Now().UnixNano()))
	pub := &livePublisher{frames: 3, period: 20 * time.Millisecond}
	mux := moqt.NewTrackMux()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	mux.Publish(ctx, path, pub)
	ps := dial(t, r, transport, v, "/", mux)
	defer ps.Terminate(moqt.NoError, "")
	ss := dial(t, r, transport, v, "/", nil)
	defer ss.Terminate(moqt.NoError, "")
	waitAnnounce(t, ss, path, path)
	tr, err := ss.Subscribe(context.Background(), path, "t", nil)
	if err != nil {
		t.Fatalf("after the hostile peer, a fresh subscription failed: %v", err)
	}
	readFrames(t, tr, 5)
	tr.Close()
}

// settle waits for the goroutine count to come back near base.
func settle(t *testing.T, base int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= base+10 {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("%d goroutines, %d before the hostile peer:\n%s", n, base, buf)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// Garbage after every stream type, on every version and transport: the
// relay resets what it must and keeps serving everyone.
func TestHostileGarbageStreams(t *testing.T) {
	forEach(t, func(t *testing.T, transport string, v moqt.Version) {
		r := startRelay(t, relay.Options{})
		checkHealthy(t, r, transport, v)
		base := runtime.NumGoroutine()
		for _, typ := range []uint64{0x0, 0x1, 0x2, 0x3, 0x4, 0x5, 0x6, 0x3f, 1 << 40} {
			for _, payload := range [][]byte{
				nil,
				{0xff},
				randomBytes(100),
				quicvarint.Append(nil, 1<<30),           // a length far above the limit
				append(quicvarint.Append(nil, 5), 1, 2), // truncated body
				append(quicvarint.Append(nil, 1), 0x40, 0), // body with a truncated varint
			} {
				conn := rawConn(t, r, transport, v)
				if str, err := conn.OpenStream(); err == nil {
					str.Write(append(quicvarint.Append(nil, typ), payload...))
					str.Close()
				}
				if str, err := conn.OpenUniStream(); err == nil {
					str.Write(append(quicvarint.Append(nil, typ), payload...))
					str.Close()
				}
				time.Sleep(5 * time.Millisecond)
				conn.CloseWithError(0, "")
			}
		}
		checkHealthy(t, r, transport, v)
		settle(t, base)
	})
}

// Oversized messages and frames are refused before they are read.
func TestHostileOversized(t *testing.T) {
	for _, v := range moqt.LiteVersions() { // the bytes below are moq-lite framing
		t.Run(v.String(), func(t *testing.T) {
			r := startRelay(t, relay.Options{})
			conn := rawConn(t, r, "quic", v)
			// A SUBSCRIBE announcing 1 GiB: the stream is reset, nothing is
			// allocated for it.
			str, err := conn.OpenStream()
			if err != nil {
				t.Fatal(err)
			}
			msg := quicvarint.Append(nil, 0x2)
			msg = quicvarint.Append(msg, 1<<30)
			str.Write(msg)
			str.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.ReadAll(str); err == nil {
				t.Fatal("oversized SUBSCRIBE was not refused")
			}
			// A publisher sending a frame above the frame limit has that
			// group reset; the relay carries on.
			checkHealthy(t, r, "quic", v)
		})
	}
}

// Thousands of subscriptions to missing tracks, in a loop, on one session.
func TestHostileSubscribeFlood(t *testing.T) {
	for _, v := range []moqt.Version{moqt.LiteDraft03, moqt.LiteDraft05} {
		t.Run(v.String(), func(t *testing.T) {
			r := startRelay(t, relay.Options{})
			checkHealthy(t, r, "quic", v)
			base := runtime.NumGoroutine()
			var before runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			sess := dial(t, r, "quic", v, "/", nil)
			for i := range 2000 {
				if _, err := sess.Subscribe(context.Background(), moqt.BroadcastPath(fmt.Sprintf("/missing/%d", i)), "t", nil); err == nil {
					t.Fatal("subscription to a missing broadcast succeeded")
				}
			}
			sess.Terminate(moqt.NoError, "")
			checkHealthy(t, r, "quic", v)
			settle(t, base)
			var after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&after)
			if grow := int64(after.HeapInuse) - int64(before.HeapInuse); grow > 8<<20 {
				t.Fatalf("heap grew by %d bytes after the flood", grow)
			}
		})
	}
}

// A connection that never completes its setup is dropped after the setup
// timeout: a moq-lite-05 client that sends no SETUP, and an HTTP/3 client
// that never sends the WebTransport CONNECT.
func TestHostileNoHandshake(t *testing.T) {
	r := startRelayWith(t, relay.Options{}, &moqt.Config{SetupTimeout: 500 * time.Millisecond})
	for _, alpn := range []string{"moq-lite-05", "h3"} {
		t.Run(alpn, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			conn, err := quic.DialAddr(ctx, r.addr, &tls.Config{RootCAs: cert.Pool(), NextProtos: []string{alpn}}, &quic.Config{MaxIdleTimeout: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.CloseWithError(0, "")
			select {
			case <-conn.Context().Done():
			case <-time.After(5 * time.Second):
				t.Fatal("connection without setup still open after 5 s")
			}
		})
	}
	checkHealthy(t, r, "quic", moqt.LiteDraft05)
}

// A publisher vanishing in the middle of a group: subscribers see that
// group reset and the broadcast end; the relay carries on.
func TestHostileAbruptCloseMidGroup(t *testing.T) {
	forEach(t, func(t *testing.T, transport string, v moqt.Version) {
		r := startRelay(t, relay.Options{})
		mux := moqt.NewTrackMux()
		inGroup := make(chan struct{})
		mux.PublishFunc(context.Background(), "/abrupt", func(tw *moqt.TrackWriter) {
			gw, err := tw.OpenGroup(context.Background(), 0)
			if err != nil {
				return
			}
			gw.WriteFrame(context.Background(), moqt.NewFrame([]byte("half")))
			close(inGroup)
			<-tw.Context().Done()
		})
		pub := dial(t, r, transport, v, "/", mux)
		sub := dial(t, r, transport, v, "/", nil)
		waitAnnounce(t, sub, "/abrupt", "/abrupt")
		tr, err := sub.Subscribe(context.Background(), "/abrupt", "t", nil)
		if err != nil {
			t.Fatal(err)
		}
		<-inGroup
		gr, err := tr.AcceptGroup(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if f, err := gr.ReadFrame(); err != nil || string(f.Payload) != "half" {
			t.Fatalf("first frame: %v %v", f, err)
		}
		pub.Terminate(moqt.InternalSessionError, "crash")
		if _, err := gr.ReadFrame(); err == nil {
			t.Fatal("the unfinished group ended cleanly")
		}
		checkHealthy(t, r, transport, v)
	})
}

// Frames at the frame-size limit pass; one byte more resets that group
// only, and the relay keeps serving.
func TestHostileFrameSizeLimit(t *testing.T) {
	const limit = 64 << 10
	for _, v := range []moqt.Version{moqt.LiteDraft03, moqt.LiteDraft05} {
		t.Run(v.String(), func(t *testing.T) {
			r := startRelayWith(t, relay.Options{}, &moqt.Config{MaxFrameSize: limit})
			mux := moqt.NewTrackMux()
			mux.PublishFunc(context.Background(), "/big", func(tw *moqt.TrackWriter) {
				for seq, size := range []int{limit, limit + 1, 10} {
					gw, err := tw.OpenGroup(context.Background(), uint64(seq))
					if err != nil {
						return
					}
					gw.WriteFrame(context.Background(), moqt.NewFrame(make([]byte, size)))
					gw.Close()
				}
				<-tw.Context().Done()
			})
			dial(t, r, "quic", v, "/", mux)
			sub := dial(t, r, "quic", v, "/", nil)
			waitAnnounce(t, sub, "/big", "/big")
			tr, err := sub.Subscribe(context.Background(), "/big", "t", &moqt.TrackConfig{StartGroup: new(uint64)})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			// Group 1 may reach the subscriber, but only as a reset group:
			// the relay forwards groups as they arrive and resets this one
			// when its frame turns out too large.
			got := map[uint64]int{}
			for len(got) < 2 {
				gr, err := tr.AcceptGroup(ctx)
				if err != nil {
					t.Fatalf("after groups %v: %v", got, err)
				}
				f, err := gr.ReadFrame()
				if gr.GroupSequence() == 1 {
					if err == nil {
						t.Fatalf("a frame over the limit was relayed (%d bytes)", len(f.Payload))
					}
					continue
				}
				if err != nil {
					t.Fatalf("group %d: %v", gr.GroupSequence(), err)
				}
				got[gr.GroupSequence()] = len(f.Payload)
			}
			if got[0] != limit || got[2] != 10 {
				t.Fatalf("received frame sizes %v; want group 0 with %d bytes and group 2 with 10", got, limit)
			}
			checkHealthy(t, r, "quic", v)
		})
	}
}

// A peer that opens a stream and never sends its header has it reset after
// the stream header timeout; the session and the relay carry on.
func TestHostileStreamWithoutHeader(t *testing.T) {
	forEach(t, func(t *testing.T, transport string, v moqt.Version) {
		r := startRelayWith(t, relay.Options{}, &moqt.Config{StreamHeaderTimeout: 100 * time.Millisecond})
		conn := rawConn(t, r, transport, v)
		groupType := []byte{0x00}
		switch {
		case v.IsIETF():
			// The control stream's SETUP first (type 0x2F00 as a 2-byte
			// vi64, length 0: no options), kept open for the session.
			str, err := conn.OpenUniStream()
			if err != nil {
				t.Fatal(err)
			}
			str.Write([]byte{0xaf, 0x00, 0x00, 0x00})
			groupType = []byte{0x10} // a SUBGROUP_HEADER type
		case v >= moqt.LiteDraft05:
			// A SETUP first, so that the session exists.
			str, err := conn.OpenUniStream()
			if err != nil {
				t.Fatal(err)
			}
			str.Write([]byte{0x01, 0x01, 0x00}) // SETUP, length 1, no parameters
			str.Close()
		}
		str, err := conn.OpenUniStream()
		if err != nil {
			t.Fatal(err)
		}
		// A group stream type, then nothing.
		if _, err := str.Write(groupType); err != nil {
			t.Fatal(err)
		}
		<-str.Context().Done() // the relay stopped reading it (STOP_SENDING)
		if conn.Context().Err() != nil {
			t.Fatalf("the connection ended: %v", context.Cause(conn.Context()))
		}
		checkHealthy(t, r, transport, v)
	})
}
