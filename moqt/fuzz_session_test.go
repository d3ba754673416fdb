package moqt

import (
	"context"
	"testing"
	"time"

	"github.com/gomoq/gomoq/moqt/internal/ietf"
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
		fuzzSession(t, conn, data, sessionParams{conn: conn, version: v, server: true, mux: mux, config: &Config{MaxMessageSize: 1024, MaxFrameSize: 1024}, origin: 7})
	})
}

// fuzzSession feeds data to a server session on conn as records of
// (kind, length, bytes) — even kinds open a bidirectional stream, odd ones
// a unidirectional one — lets the session accept every stream, then
// terminates it and checks that its goroutines end.
func fuzzSession(t *testing.T, conn *memConn, data []byte, p sessionParams) {
	fed := 0
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
		fed++
		if len(conn.bidi) == cap(conn.bidi) || len(conn.uni) == cap(conn.uni) {
			break
		}
	}
	sess := newSession(p)
	sess.start()
	// Until the session took every stream (its handlers run on): a bound,
	// for a session that stops accepting (one that ended on bad input).
	bound := time.After(5 * time.Second)
	for range fed {
		select {
		case <-conn.accepted:
		case <-sess.Context().Done():
		case <-bound:
			t.Fatalf("the session, still alive, accepted fewer than the %d streams fed to it", fed)
		}
		if sess.Context().Err() != nil {
			break
		}
	}
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
}

// FuzzServerSessionIETF is FuzzServerSession for IETF MoQ Transport
// sessions (drafts 17 to 20): control streams, request streams and
// subgroup streams of arbitrary bytes, garbage per stream type, huge
// lengths, unknown messages and out-of-order requests. Nothing may panic or
// hang, and the session must shut down cleanly afterwards.
func FuzzServerSessionIETF(f *testing.F) {
	record := func(kind byte, data []byte) []byte {
		return append([]byte{kind, byte(len(data))}, data...)
	}
	versions := ietf.SupportedVersions()
	for i, v := range versions {
		setup := (&ietf.Setup{Options: ietf.KVPs{{Type: ietf.OptionImplementation, Bytes: []byte("fuzz")}}}).Append(nil, v)
		goaway := (&ietf.Goaway{}).Append(nil, v)
		sub := (&ietf.Subscribe{RequestID: 0, Namespace: ietf.Namespace{"live"}, Track: "video",
			Params: ietf.Params{{Type: ietf.ParamSubscriberPriority, Value: 1}, {Type: ietf.ParamGroupOrder, Value: 1}}}).Append(nil, v)
		upd := (&ietf.RequestUpdate{RequestID: 2}).Append(nil, v)
		sns := (&ietf.SubscribeNamespace{RequestID: 4, Prefix: ietf.Namespace{}}).Append(nil, v)
		pns := (&ietf.PublishNamespace{RequestID: 6, Namespace: ietf.Namespace{"x"}}).Append(nil, v)
		grp := (&ietf.SubgroupHeader{TrackAlias: 0, GroupID: 3, FirstObject: v >= ietf.Draft18}).Append(nil, v)
		grp = (&ietf.SubgroupObject{Payload: []byte("abc")}).Append(grp, false, v)
		seed := []byte{byte(i)}
		seed = append(seed, record(1, append(setup, goaway...))...)
		seed = append(seed, record(0, append(sub, upd...))...)
		seed = append(seed, record(0, sns)...)
		seed = append(seed, record(0, pns)...)
		seed = append(seed, record(1, grp)...)
		f.Add(seed)
		// Out of order: a REQUEST_UPDATE opening a stream, a SUBSCRIBE_OK
		// from the subscriber, a huge length, an unknown message.
		bad := []byte{byte(i)}
		bad = append(bad, record(0, upd)...)
		bad = append(bad, record(0, (&ietf.SubscribeOK{TrackAlias: 1}).Append(nil, v))...)
		bad = append(bad, record(0, []byte{0x03, 0xff, 0xff, 0x00})...)
		bad = append(bad, record(0, []byte{0x3f, 0x00, 0x01, 0x00})...)
		bad = append(bad, record(1, []byte{0x7f, 0xff})...)
		f.Add(bad)
	}

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
		v := versions[int(data[0])%len(versions)]
		data = data[1:]
		conn := newMemConn(v.ALPN())
		fuzzSession(t, conn, data, sessionParams{conn: conn, ietf: v, server: true, mux: mux, config: &Config{MaxMessageSize: 1024, MaxFrameSize: 1024}, origin: 7})
	})
}
