package wire

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"testing"
	"testing/iotest"
)

// loopReader serves data over and over, never ending.
type loopReader struct {
	data []byte
	off  int
}

func (l *loopReader) Read(p []byte) (int, error) {
	n := copy(p, l.data[l.off:])
	l.off = (l.off + n) % len(l.data)
	return n, nil
}

func TestReaderMessages(t *testing.T) {
	var stream []byte
	stream = (&Subscribe{ID: 1, Broadcast: "b", Track: "t"}).Append(stream, Lite05)
	stream = (&SubscribeStart{Group: 9}).Append(stream, Lite05)
	stream = (&SubscribeDrop{Start: 1, End: 2, ErrorCode: 3}).Append(stream, Lite05)
	stream = (&GroupHeader{SubscribeID: 1, Sequence: 2}).Append(stream, Lite05)
	stream = AppendFrameHeader(stream, Lite05, -3, 4)
	stream = append(stream, "data"...)
	stream = AppendVarint(stream, 16384)
	stream = AppendFrameHeader(stream, Lite04, 0, 0)

	// One byte at a time, to exercise every refill path.
	r := NewReader(iotest.OneByteReader(bytes.NewReader(stream)), 64)
	body, err := r.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	var s Subscribe
	if err := s.Parse(body, Lite05); err != nil || s.Track != "t" {
		t.Fatalf("%+v %v", s, err)
	}
	typ, body, err := r.ReadTyped()
	if err != nil || typ != RespSubscribeStart {
		t.Fatalf("%d %v", typ, err)
	}
	var st SubscribeStart
	if err := st.Parse(body, Lite05); err != nil || st.Group != 9 {
		t.Fatalf("%+v %v", st, err)
	}
	typ, body, err = r.ReadTyped()
	if err != nil || typ != RespSubscribeDrop {
		t.Fatalf("%d %v", typ, err)
	}
	var d SubscribeDrop
	if err := d.Parse(body, Lite05); err != nil || d != (SubscribeDrop{1, 2, 3}) {
		t.Fatalf("%+v %v", d, err)
	}
	body, err = r.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	var g GroupHeader
	if err := g.Parse(body, Lite05); err != nil || g.Sequence != 2 {
		t.Fatalf("%+v %v", g, err)
	}
	ts, size, err := r.ReadFrameHeader(Lite05)
	if err != nil || ts != -3 || size != 4 {
		t.Fatalf("%d %d %v", ts, size, err)
	}
	payload := make([]byte, size)
	if _, err := io.ReadFull(r, payload); err != nil || string(payload) != "data" {
		t.Fatalf("%q %v", payload, err)
	}
	if v, err := r.ReadVarint(); err != nil || v != 16384 {
		t.Fatalf("%d %v", v, err)
	}
	if ts, size, err := r.ReadFrameHeader(Lite04); err != nil || ts != 0 || size != 0 {
		t.Fatalf("%d %d %v", ts, size, err)
	}
	if _, err := r.ReadMessage(); err != io.EOF {
		t.Fatalf("clean end: %v", err)
	}
	if _, _, err := r.ReadTyped(); err != io.EOF {
		t.Fatalf("clean end typed: %v", err)
	}
	if _, _, err := r.ReadFrameHeader(Lite05); err != io.EOF {
		t.Fatalf("clean end frame: %v", err)
	}
	if _, err := r.ReadVarint(); err != io.EOF {
		t.Fatalf("clean end varint: %v", err)
	}
}

func TestReaderUnexpectedEOF(t *testing.T) {
	for _, c := range []struct {
		name  string
		input string
		read  func(r *Reader) error
	}{
		{"varint", "40", func(r *Reader) error { _, err := r.ReadVarint(); return err }},
		{"varint8", "c0000000", func(r *Reader) error { _, err := r.ReadVarint(); return err }},
		{"message length", "40", func(r *Reader) error { _, err := r.ReadMessage(); return err }},
		{"message body", "0301", func(r *Reader) error { _, err := r.ReadMessage(); return err }},
		{"message body empty", "03", func(r *Reader) error { _, err := r.ReadMessage(); return err }},
		{"typed no length", "01", func(r *Reader) error { _, _, err := r.ReadTyped(); return err }},
		{"typed short length", "0140", func(r *Reader) error { _, _, err := r.ReadTyped(); return err }},
		{"typed body", "010201", func(r *Reader) error { _, _, err := r.ReadTyped(); return err }},
		{"frame 05 no size", "02", func(r *Reader) error { _, _, err := r.ReadFrameHeader(Lite05); return err }},
		{"frame 05 short ts", "40", func(r *Reader) error { _, _, err := r.ReadFrameHeader(Lite05); return err }},
		{"frame 03 short size", "80", func(r *Reader) error { _, _, err := r.ReadFrameHeader(Lite03); return err }},
		{"discard", "0102", func(r *Reader) error { _, err := r.Discard(3); return err }},
	} {
		r := NewReader(bytes.NewReader(mustHex(c.input)), 16)
		if err := c.read(r); err != io.ErrUnexpectedEOF {
			t.Errorf("%s: err = %v, want io.ErrUnexpectedEOF", c.name, err)
		}
	}
	// Errors of the stream itself pass through untouched.
	boom := errors.New("stream reset")
	r := NewReader(iotest.ErrReader(boom), 16)
	if _, err := r.ReadMessage(); err != boom {
		t.Errorf("stream error: %v", err)
	}
	r = NewReader(io.MultiReader(bytes.NewReader([]byte{5, 1}), iotest.ErrReader(boom)), 16)
	if _, err := r.ReadMessage(); err != boom {
		t.Errorf("stream error in body: %v", err)
	}
	if _, _, err := NewReader(bytes.NewReader([]byte{1}), 0).ReadFrameHeader(liteUnknown); !errors.Is(err, ErrInvalid) {
		t.Errorf("unknown version: %v", err)
	}
}

func TestReaderLimit(t *testing.T) {
	r := NewReader(bytes.NewReader(append(AppendVarint(nil, 5), "hello"...)), 5)
	if b, err := r.ReadMessage(); err != nil || string(b) != "hello" {
		t.Fatalf("at the limit: %q %v", b, err)
	}
	r = NewReader(bytes.NewReader(append(AppendVarint(nil, 6), "hello!"...)), 5)
	if _, err := r.ReadMessage(); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("over the limit: %v", err)
	}
	r = NewReader(bytes.NewReader(append([]byte{0, 6}, "hello!"...)), 5)
	if _, _, err := r.ReadTyped(); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("typed over the limit: %v", err)
	}
	if r := NewReader(bytes.NewReader(nil), -1); r.max != DefaultMaxMessage {
		t.Fatalf("default limit %d", r.max)
	}
}

func TestReaderHugeLength(t *testing.T) {
	// A 2^60 length prefix, followed by nothing: must fail fast without
	// allocating or trying to read the body.
	huge := AppendVarint(nil, 1<<60)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range 100 {
		r := NewReader(bytes.NewReader(huge), 1<<20)
		if _, err := r.ReadMessage(); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("ReadMessage: %v", err)
		}
		if cap(r.buf) != 0 {
			t.Fatalf("buffer grew to %d", cap(r.buf))
		}
		r = NewReader(bytes.NewReader(append([]byte{1}, huge...)), 1<<20)
		if _, _, err := r.ReadTyped(); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("ReadTyped: %v", err)
		}
	}
	runtime.ReadMemStats(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 4<<20 {
		t.Fatalf("allocated %d bytes", grew)
	}
}

func TestReaderReset(t *testing.T) {
	r := NewReader(bytes.NewReader([]byte{1, 'a'}), 8)
	if b, err := r.ReadMessage(); err != nil || string(b) != "a" {
		t.Fatal(b, err)
	}
	r.Reset(bytes.NewReader([]byte{2, 'b', 'c', 9, 9}))
	if b, err := r.ReadMessage(); err != nil || string(b) != "bc" {
		t.Fatal(b, err)
	}
	if n, err := r.Discard(2); err != nil || n != 2 {
		t.Fatal(n, err)
	}
	if _, err := r.ReadVarint(); err != io.EOF {
		t.Fatal(err)
	}
}

func TestReadMessageAllocs(t *testing.T) {
	var data []byte
	for i := range 10 {
		data = (&Subscribe{ID: uint64(i), Broadcast: "room/alice", Track: "video", Priority: 1}).Append(data, Lite05)
		data = (&SubscribeDrop{Start: 1, End: 2}).Append(data, Lite05)
	}
	r := NewReader(&loopReader{data: data}, 1024)
	// Warm up so the body buffer reaches its steady size.
	for range 20 {
		if _, err := r.ReadMessage(); err != nil {
			t.Fatal(err)
		}
		if _, _, err := r.ReadTyped(); err != nil {
			t.Fatal(err)
		}
	}
	allocs := testing.AllocsPerRun(1000, func() {
		if _, err := r.ReadMessage(); err != nil {
			t.Fatal(err)
		}
		if _, _, err := r.ReadTyped(); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("ReadMessage/ReadTyped: %v allocs per run", allocs)
	}
}

func TestFrameAllocs(t *testing.T) {
	buf := make([]byte, 0, 64)
	allocs := testing.AllocsPerRun(1000, func() {
		buf = AppendFrameHeader(buf[:0], Lite05, -12345, 1<<20)
		buf = AppendFrameHeader(buf[:0], Lite03, 0, 100)
		_ = FrameHeaderLen(Lite05, 77, 1000)
	})
	if allocs != 0 {
		t.Fatalf("AppendFrameHeader: %v allocs per run", allocs)
	}

	var data []byte
	for i := range 8 {
		data = AppendFrameHeader(data, Lite05, int64(i*3000-9000), 100)
		data = append(data, make([]byte, 100)...)
	}
	r := NewReader(&loopReader{data: data}, 16)
	payload := make([]byte, 100)
	allocs = testing.AllocsPerRun(1000, func() {
		_, size, err := r.ReadFrameHeader(Lite05)
		if err != nil || size != 100 {
			t.Fatal(size, err)
		}
		if _, err := io.ReadFull(r, payload); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("ReadFrameHeader: %v allocs per run", allocs)
	}
}

func BenchmarkAppendFrameHeader(b *testing.B) {
	for _, v := range allVersions {
		b.Run(v.String(), func(b *testing.B) {
			b.ReportAllocs()
			buf := make([]byte, 0, 32)
			for i := 0; b.Loop(); i++ {
				buf = AppendFrameHeader(buf[:0], v, int64(i&1023)-512, 1200+i&4095)
			}
		})
	}
}

func BenchmarkReadFrame(b *testing.B) {
	const payloadLen = 1200
	for _, v := range allVersions {
		b.Run(v.String(), func(b *testing.B) {
			var data []byte
			for i := range 16 {
				data = AppendFrameHeader(data, v, int64(i*33-200), payloadLen)
				data = append(data, make([]byte, payloadLen)...)
			}
			r := NewReader(&loopReader{data: data}, 1024)
			payload := make([]byte, payloadLen)
			b.ReportAllocs()
			b.SetBytes(payloadLen)
			for b.Loop() {
				_, size, err := r.ReadFrameHeader(v)
				if err != nil || size != payloadLen {
					b.Fatal(size, err)
				}
				if _, err := io.ReadFull(r, payload); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkReadMessage(b *testing.B) {
	var data []byte
	for i := range 16 {
		data = (&Subscribe{ID: uint64(i), Broadcast: "room/alice", Track: "video"}).Append(data, Lite05)
	}
	r := NewReader(&loopReader{data: data}, 1024)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.ReadMessage(); err != nil {
			b.Fatal(err)
		}
	}
}

// ReadFull does not allocate a declared size before the bytes arrive: a
// peer that declares 16 MiB and sends 10 bytes costs about one chunk.
func TestReadFullAllocatesAsBytesArrive(t *testing.T) {
	r := NewReader(io.MultiReader(bytes.NewReader(make([]byte, 10)), errReader{}), 0)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := r.ReadFull(16 << 20)
	runtime.ReadMemStats(&after)
	if err == nil {
		t.Fatal("ReadFull of a truncated payload succeeded")
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Fatalf("ReadFull allocated %d bytes for 10 bytes received", grew)
	}
	// And a payload that does arrive is read whole.
	want := bytes.Repeat([]byte("abcdefgh"), 40000) // 320 000 bytes, several chunks
	got, err := NewReader(bytes.NewReader(want), 0).ReadFull(len(want))
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("ReadFull of %d bytes: %d bytes, %v", len(want), len(got), err)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }
