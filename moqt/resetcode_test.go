package moqt_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gomoq/gomoq/moqt"
)

// TestGroupResetCodes: a group the publisher abandons with
// GroupWriter.CancelWrite reaches the subscriber's ReadFrame as a
// *GroupError with the code the wire can carry. On moq-lite every code
// crosses as it is; on IETF sessions our codes travel as the drafts' stream
// reset codes (a group dropped as too old is DELIVERY_TIMEOUT, a limit
// EXCESSIVE_LOAD, ...), so some arrive as the IETF code nearest in meaning,
// and an application's own code crosses as it is.
func TestGroupResetCodes(t *testing.T) {
	forEach(t, func(t *testing.T, transport string, v moqt.Version) {
		codes := []moqt.StreamErrorCode{
			moqt.CancelledError, moqt.OldGroupError, moqt.TooManyError, moqt.UnauthorizedError,
			moqt.GoingAwayError, moqt.NotFoundError, moqt.MalformedTrackError, moqt.StreamErrorCode(0x1000),
		}
		want := func(c moqt.StreamErrorCode) moqt.StreamErrorCode {
			if !v.IsIETF() {
				return c
			}
			switch c {
			case moqt.OldGroupError:
				return moqt.DeliveryTimeoutError
			case moqt.NotFoundError:
				return moqt.InternalStreamError
			case moqt.UnauthorizedError, moqt.GoingAwayError:
				if v == moqt.IETFDraft17 { // no EXPIRED_AUTH_TOKEN or GOING_AWAY reset code
					return moqt.InternalStreamError
				}
			}
			return c
		}
		read := make(chan struct{})
		mux := moqt.NewTrackMux()
		mux.PublishFunc(context.Background(), "/codes", func(tw *moqt.TrackWriter) {
			for i, c := range codes {
				gw, err := tw.OpenGroup(tw.Context(), uint64(i))
				if err != nil {
					return
				}
				if err := gw.WriteFrame(tw.Context(), moqt.NewFrame([]byte("x"))); err != nil {
					return
				}
				select {
				case <-read: // the subscriber has the frame: the reset cannot overtake it
				case <-tw.Context().Done():
					return
				}
				gw.CancelWrite(c)
			}
			<-tw.Context().Done()
		})
		srv := startServer(t, acceptInto(mux, nil), nil)
		sess, err := newClient(t, v).Dial(context.Background(), srv.url(transport, "/"), nil)
		if err != nil {
			t.Fatal(err)
		}
		tr, err := sess.Subscribe(context.Background(), "/codes", "t", &moqt.TrackConfig{Ordered: true})
		if err != nil {
			t.Fatal(err)
		}
		defer tr.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		for i, c := range codes {
			gr, err := tr.AcceptGroup(ctx)
			if err != nil {
				t.Fatalf("group %d: %v", i, err)
			}
			if seq := gr.GroupSequence(); seq != uint64(i) {
				t.Fatalf("group %d, want %d", seq, i)
			}
			if _, err := gr.ReadFrame(); err != nil {
				t.Fatalf("group %d: first frame: %v", i, err)
			}
			read <- struct{}{}
			_, err = gr.ReadFrame()
			var ge *moqt.GroupError
			if !errors.As(err, &ge) || !ge.Remote {
				t.Fatalf("group %d reset with %v: ReadFrame = %v, want a remote *GroupError", i, c, err)
			}
			if ge.Code != want(c) {
				t.Errorf("group %d reset with %v: the subscriber saw %v, want %v", i, c, ge.Code, want(c))
			}
		}
	})
}
