package moqt

import (
	"context"
	"testing"
	"time"

	"github.com/gomoq/gomoq/moqt/internal/wire"
)

// FuzzServerSession feeds arbitrary streams to the server side of a session
// (every version) over an in-memory transport: nothing may panic or hang,
// and the session must shut down cleanly afterwards.
//
// Input layout: the first byte picks the version; then records of
// [kind byte][length byte][data], kind bit 0 choosing a bidirectional or
// unidirectional stream.
func FuzzServerSession(f *testing.F) {
	sub := wire.AppendVarint(nil, wire.StreamSubscribe)
	sub = (&wire.Subscribe{ID: 1, Broadcast: "live", Track: "video"}).Append(sub, wire.Lite05)
	ann := wire.AppendVarint(nil, wire.StreamAnnounce)
	ann = (&wire.AnnounceRequest{Prefix: ""}).Append(ann, wire.Lite05)
	trk := wire.AppendVarint(nil, wire.StreamTrack)
	trk = (&wire.Track{Broadcast: "live", Track: "video"}).Append(trk, wire.Lite05)
	grp := wire.AppendVarint(nil, wire.StreamGroup)
	grp = (&wire.GroupHeader{SubscribeID: 0, Sequence: 3}).Append(grp, wire.Lite05)
	grp = wire.AppendFrameHeader(grp, wire.Lite05, 5, 3)
	grp = append(grp, "abc"...)
	record := func(kind byte, data []byte) []byte {
		return append([]byte{kind, byte(len(data))}, data...)
	}
	for v := byte(0); v < 3; v++ {
		seed := []byte{v}
		seed = append(seed, record(0, sub)...)
		seed = append(seed, record(0, ann)...)
		seed = append(seed, record(0, trk)...)
		seed = append(seed, record(1, grp)...)
		f.Add(seed)
	}
	f.Add([]byte{2, 0, 3, 0x02, 0xff, 0xff})

	mux := NewTrackMux()
	mux.PublishFunc(context.Background(), "/live", func(tw *TrackWriter) {
		gw, err := tw.OpenGroup(context.Background(), 0)
		if err != nil {
			return
		}
		gw.WriteFrame(context.Background(), NewFrame([]byte("x")))
		gw.Close()
	})

	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		versions := wire.SupportedVersions()
		v := versions[int(data[0])%len(versions)]
		data = data[1:]
		conn := newMemConn(v.ALPN())
		for len(data) >= 2 {
			kind, n := data[0], int(data[1])
			data = data[2:]
			n = min(n, len(data))
			s := newMemStream(data[:n])
			data = data[n:]
			if kind&1 == 0 {
				conn.bidi <- s
			} else {
				conn.uni <- s
			}
			if len(conn.bidi) == cap(conn.bidi) || len(conn.uni) == cap(conn.uni) {
				break
			}
		}
		sess := newSession(sessionParams{conn: conn, version: v, server: true, mux: mux, config: &Config{MaxMessageSize: 1024, MaxFrameSize: 1024}, origin: 7})
		sess.start()
		time.Sleep(time.Millisecond)
		sess.Terminate(NoError, "done")
		done := make(chan struct{})
		go func() {
			sess.wait()
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("session goroutines did not end")
		}
	})
}
