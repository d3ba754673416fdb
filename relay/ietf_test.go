package relay_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/gomoq/gomoq/moqt"
	"github.com/gomoq/gomoq/relay"
)

// TestCrossFamily bridges the two protocol families through one relay: a
// moq-lite-05 publisher watched by an IETF MoQ Transport subscriber (drafts
// 17 to 20), and an IETF publisher watched by moq-lite-03, -04 and -05
// subscribers. The subscriber discovers the broadcast, subscribes in order,
// and must get every group from its start on exactly once, in sequence,
// each whole, then the end of the track.
func TestCrossFamily(t *testing.T) {
	type pair struct{ pub, sub moqt.Version }
	var pairs []pair
	for _, v := range moqt.IETFVersions() {
		pairs = append(pairs, pair{moqt.LiteDraft05, v})
	}
	for _, v := range moqt.IETFVersions() {
		for _, l := range moqt.LiteVersions() {
			pairs = append(pairs, pair{v, l})
		}
	}
	for _, transport := range []string{"quic", "webtransport"} {
		for _, p := range pairs {
			t.Run(fmt.Sprintf("%s/%v-to-%v", transport, p.pub, p.sub), func(t *testing.T) {
				leakCheck(t)
				crossFamily(t, transport, p.pub, p.sub)
			})
		}
	}
}

func crossFamily(t *testing.T, transport string, pubV, subV moqt.Version) {
	const groups, frames = 6, 4
	r := startRelay(t, relay.Options{})
	mux := moqt.NewTrackMux()
	ctx, unpublish := context.WithCancel(context.Background())
	defer unpublish()
	// Served to the relay's upstream subscription. The groups are
	// written once the subscriber's Subscribe returned, and the track ends
	// once it has read the last one (the end must not overtake the groups
	// on their way).
	subscribed, readLast := make(chan struct{}), make(chan struct{})
	mux.Publish(ctx, "/bridge", infoTrack{info: moqt.TrackInfo{Timescale: 90000}, TrackHandlerFunc: func(tw *moqt.TrackWriter) {
		select {
		case <-subscribed:
		case <-tw.Context().Done():
			return
		}
		defer func() {
			select {
			case <-readLast:
			case <-tw.Context().Done():
			}
		}()
		for g := range groups {
			gw, err := tw.OpenGroup(context.Background(), uint64(g))
			if err != nil {
				t.Errorf("OpenGroup(%d): %v", g, err)
				return
			}
			for f := range frames {
				if err := gw.WriteFrame(context.Background(), moqt.NewFrame(fmt.Appendf(nil, "%d:%d", g, f))); err != nil {
					t.Errorf("WriteFrame: %v", err)
					return
				}
			}
			gw.Close()
		}
	}})
	pubSess := dial(t, r, transport, pubV, "/", mux)
	if pubSess.Version() != pubV {
		t.Fatalf("publisher negotiated %v, want %v", pubSess.Version(), pubV)
	}
	sub := dial(t, r, transport, subV, "/", nil)
	if sub.Version() != subV {
		t.Fatalf("subscriber negotiated %v, want %v", sub.Version(), subV)
	}
	a := waitAnnounce(t, sub, "/", "/bridge")
	// The track's properties cross the bridge without a subscription
	// (TRACK_STATUS, TRACK): the publisher's timescale, where both wires
	// carry it.
	info, err := sub.TrackInfo(context.Background(), "/bridge", "t")
	switch {
	case subV == moqt.LiteDraft03 || subV == moqt.LiteDraft04:
		if !errors.Is(err, errors.ErrUnsupported) {
			t.Fatalf("TrackInfo on %v: %v, want errors.ErrUnsupported", subV, err)
		}
	case err != nil:
		t.Fatalf("TrackInfo: %v", err)
	case subV == moqt.IETFDraft17:
		// Draft 17's TRACK_STATUS_OK has no Track Properties.
	case info.Timescale != 90000:
		t.Fatalf("TrackInfo through the relay: %+v, want the publisher's timescale 90000", info)
	}
	tr, err := sub.Subscribe(context.Background(), "/bridge", "t", &moqt.TrackConfig{Ordered: true})
	if err != nil {
		t.Fatal(err)
	}
	close(subscribed)
	rctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var got []uint64
	for {
		gr, err := tr.AcceptGroup(rctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("AcceptGroup after groups %v: %v", got, err)
		}
		seq := gr.GroupSequence()
		got = append(got, seq)
		for f := 0; ; f++ {
			fr, err := gr.ReadFrame()
			if err == io.EOF {
				if f != frames {
					t.Fatalf("group %d: %d frames, want %d", seq, f, frames)
				}
				break
			}
			if err != nil {
				t.Fatalf("group %d frame %d: %v", seq, f, err)
			}
			if want := fmt.Sprintf("%d:%d", seq, f); string(fr.Payload) != want {
				t.Fatalf("frame %q, want %q", fr.Payload, want)
			}
		}
		if seq == groups-1 {
			close(readLast)
		}
	}
	// Every group from the subscriber's start on, each once. The start is
	// the relay's: a downstream subscription begins at the latest group
	// the relay holds when it attaches, and the publisher may have got
	// groups to the relay before that (it starts writing once the relay's
	// upstream SUBSCRIBE is answered). In sequence where the transport
	// keeps the order in which the relay opened the streams (native QUIC,
	// moq-lite-05's accounting).
	if len(got) == 0 {
		t.Fatal("no group")
	}
	first := uint64(groups)
	seen := map[uint64]bool{}
	for _, s := range got {
		if seen[s] || s >= groups {
			t.Fatalf("groups %v: %d twice or out of range", got, s)
		}
		seen[s] = true
		first = min(first, s)
	}
	if uint64(len(got)) != groups-first {
		t.Fatalf("got groups %v, want %d..%d each once", got, first, groups-1)
	}
	if transport == "quic" || subV == moqt.LiteDraft05 {
		for i, s := range got {
			if s != first+uint64(i) {
				t.Fatalf("groups %v out of order", got)
			}
		}
	}
	if first != 0 {
		t.Logf("the subscription started at group %d (the relay had it when the subscriber attached)", first)
	}
	// The end of the broadcast crosses the bridge too.
	unpublish()
	select {
	case <-a.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the end of /bridge was not announced")
	}
}

// infoTrack is a track handler that answers TrackInfo with info.
type infoTrack struct {
	moqt.TrackHandlerFunc
	info moqt.TrackInfo
}

func (h infoTrack) TrackInfo(moqt.BroadcastPath, moqt.TrackName) (moqt.TrackInfo, error) {
	return h.info, nil
}

// TestIETFControlPlane runs the control-plane cases of the public interop
// runner (englishm/moq-interop-runner) that a bare IETF publisher can play
// against the relay, for each draft: setup-only (SETUP both ways),
// announce-only (an unsolicited PUBLISH_NAMESPACE from a publisher that
// refuses SUBSCRIBE_NAMESPACE with NOT_SUPPORTED reaches an IETF and a
// moq-lite-05 subscriber), publish-namespace-done (closing the request
// stream, draft 17+'s withdrawal, ends it for both), subscribe-error (a
// SUBSCRIBE for an unknown broadcast gets REQUEST_ERROR, NotFoundError),
// subscribe-before-announce (refused at once, one of the two outcomes the
// runner accepts) and announce-subscribe (a SUBSCRIBE routed through the
// relay to the raw publisher, whose SUBSCRIBE_OK reaches the subscriber).
func TestIETFControlPlane(t *testing.T) {
	for _, v := range moqt.IETFVersions() {
		t.Run(v.String(), func(t *testing.T) {
			leakCheck(t)
			r := startRelay(t, relay.Options{})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			conn := rawConn(t, r, "quic", v)
			ctrl, err := conn.OpenUniStream()
			if err != nil {
				t.Fatal(err)
			}
			ctrl.Write([]byte{0xaf, 0x00, 0x00, 0x00}) // SETUP (0x2F00), no options; kept open

			// setup-only: the relay's control stream starts with SETUP.
			rc, err := conn.AcceptUniStream(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var typ [2]byte
			if _, err := io.ReadFull(rc, typ[:]); err != nil || typ != [2]byte{0xaf, 0x00} {
				t.Fatalf("relay control stream starts % x (%v), want SETUP af 00", typ, err)
			}

			// The relay asks what we publish; this publisher does not
			// answer SUBSCRIBE_NAMESPACE (REQUEST_ERROR NOT_SUPPORTED).
			sn, err := conn.AcceptStream(ctx)
			if err != nil {
				t.Fatal(err)
			}
			sn.Write([]byte{0x05, 0x00, 0x03, 0x03, 0x00, 0x00}) // code 3, retry 0, no reason
			sn.Close()

			// announce-only.
			ietfSub := dial(t, r, "quic", v, "/", nil)
			liteSub := dial(t, r, "quic", moqt.LiteDraft05, "/", nil)
			payload := []byte{0x00} // Request ID
			if v == moqt.IETFDraft17 {
				payload = append(payload, 0x00) // Required Request ID Delta
			}
			payload = append(payload, 0x02, 0x07, 'i', 'n', 't', 'e', 'r', 'o', 'p', 0x03, 'p', 'u', 'b', 0x00)
			pn, err := conn.OpenStreamSync(ctx)
			if err != nil {
				t.Fatal(err)
			}
			pn.Write(append([]byte{0x06, byte(len(payload) >> 8), byte(len(payload))}, payload...))
			var resp [1]byte
			if _, err := io.ReadFull(pn, resp[:]); err != nil || resp[0] != 0x07 {
				t.Fatalf("reply to PUBLISH_NAMESPACE % x (%v), want REQUEST_OK", resp, err)
			}
			a1 := waitAnnounce(t, ietfSub, "/", "/interop/pub")
			a2 := waitAnnounce(t, liteSub, "/", "/interop/pub")

			// subscribe-error.
			_, err = ietfSub.Subscribe(ctx, "/interop/none", "t", nil)
			var se *moqt.SubscribeError
			if !errors.As(err, &se) || se.Code != moqt.NotFoundError {
				t.Fatalf("Subscribe to an unknown broadcast: %v, want NotFoundError", err)
			}

			// subscribe-before-announce: a SUBSCRIBE for a broadcast not
			// announced yet is refused at once (REQUEST_ERROR; the runner
			// takes that, or a success once it is announced, as graceful).
			_, err = ietfSub.Subscribe(ctx, "/moq-test/interop", "test-track", nil)
			if !errors.As(err, &se) || se.Code != moqt.NotFoundError {
				t.Fatalf("Subscribe before the announce: %v, want NotFoundError", err)
			}

			// announce-subscribe: the publisher announces moq-test/interop
			// (Request ID 2); the subscriber's SUBSCRIBE reaches it through
			// the relay, it answers SUBSCRIBE_OK, and so does the relay.
			payload = []byte{0x02}
			if v == moqt.IETFDraft17 {
				payload = append(payload, 0x00)
			}
			payload = append(payload, 0x02, 0x08, 'm', 'o', 'q', '-', 't', 'e', 's', 't', 0x07, 'i', 'n', 't', 'e', 'r', 'o', 'p', 0x00)
			pn2, err := conn.OpenStreamSync(ctx)
			if err != nil {
				t.Fatal(err)
			}
			pn2.Write(append([]byte{0x06, byte(len(payload) >> 8), byte(len(payload))}, payload...))
			if _, err := io.ReadFull(pn2, resp[:]); err != nil || resp[0] != 0x07 {
				t.Fatalf("reply to the second PUBLISH_NAMESPACE % x (%v), want REQUEST_OK", resp, err)
			}
			waitAnnounce(t, ietfSub, "/", "/moq-test/interop")
			subscribed := make(chan error, 1)
			go func() {
				tr, err := ietfSub.Subscribe(ctx, "/moq-test/interop", "test-track", nil)
				if err == nil {
					tr.Close()
				}
				subscribed <- err
			}()
			up, err := conn.AcceptStream(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(up, resp[:]); err != nil || resp[0] != 0x03 {
				t.Fatalf("the relay's request to the publisher starts % x (%v), want SUBSCRIBE (0x03)", resp, err)
			}
			up.Write([]byte{0x04, 0x00, 0x02, 0x00, 0x00}) // SUBSCRIBE_OK: alias 0, no parameters, no properties
			if err := <-subscribed; err != nil {
				t.Fatalf("announce-subscribe: %v", err)
			}
			pn2.Close()

			// publish-namespace-done.
			pn.Close()
			for _, a := range []*moqt.Announcement{a1, a2} {
				select {
				case <-a.Done():
				case <-ctx.Done():
					t.Fatalf("closing the PUBLISH_NAMESPACE stream did not end %s", a.BroadcastPath())
				}
			}
		})
	}
}
