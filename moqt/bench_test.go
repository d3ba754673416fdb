package moqt

import (
	"context"
	"testing"

	"github.com/gomoq/gomoq/moqt/internal/wire"
)

// BenchmarkWriteFrame measures the per-subscriber cost of forwarding one
// frame at the session layer (framing and the stream write), over a
// transport that discards the bytes: the part of fan-out that is ours.
func BenchmarkWriteFrame(b *testing.B) {
	for _, v := range wire.SupportedVersions() {
		b.Run(v.String(), func(b *testing.B) {
			conn := newMemConn(v.ALPN())
			s := newSession(sessionParams{conn: conn, version: v, server: true, origin: 1})
			s.start()
			defer func() {
				s.Terminate(NoError, "")
				s.wait()
			}()
			tw := &TrackWriter{sess: s, id: 1, path: "bench", name: "t", stream: newMemStream(nil)}
			tw.ctx, tw.cancel = context.WithCancelCause(context.Background())
			gw, err := tw.OpenGroup(context.Background(), 0)
			if err != nil {
				b.Fatal(err)
			}
			f := &Frame{Payload: make([]byte, 1000), Timestamp: 1000}
			b.SetBytes(int64(len(f.Payload)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				f.Timestamp += 33
				if err := gw.WriteFrame(context.Background(), f); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
