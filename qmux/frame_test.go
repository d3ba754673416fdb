package qmux

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"reflect"
	"sync"
	"testing"
	"time"
)

func golden(t testing.TB) map[string][]byte {
	t.Helper()
	b, err := os.ReadFile("testdata/golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for k, v := range m {
		out[k], err = hex.DecodeString(v)
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// TestGolden decodes frames encoded by @moq/qmux 0.3.3 (gen_golden.mjs),
// checks their fields, and re-encodes them to the same bytes.
func TestGolden(t *testing.T) {
	g := golden(t)
	tp := &params{idleTimeoutMs: 30000, maxData: 1 << 20, streamBidiLocal: 256 << 10, streamBidiRemot: 256 << 10,
		streamUni: 256 << 10, streamsBidi: 100, streamsUni: 100, maxDatagram: defaultMaxRecordSize, maxRecordSize: 65536, resetStreamAt: true}
	want := map[string]frame{
		"stream":               {typ: typeStreamBase, id: 2, offset: 1234, data: []byte("hello")},
		"stream_fin":           {typ: typeStreamBase, id: 7, offset: 70000, data: []byte{}, fin: true},
		"reset_stream":         {typ: typeResetStream, id: 3, code: 42, finalSize: 999},
		"stop_sending":         {typ: typeStopSending, id: 6, code: 7},
		"connection_close":     {typ: typeConnClose, code: 10, data: []byte("protocol")},
		"application_close":    {typ: typeAppClose, code: 0x11, data: []byte("bye now")},
		"max_data":             {typ: typeMaxData, value: 1 << 20},
		"max_stream_data":      {typ: typeMaxStreamData, id: 4, value: 256 << 10},
		"max_streams_bidi":     {typ: typeMaxStreamsBidi, value: 100},
		"max_streams_uni":      {typ: typeMaxStreamsUni, value: 1000},
		"data_blocked":         {typ: typeDataBlocked, value: 5},
		"stream_data_blocked":  {typ: typeStreamDataBlk, id: 8, value: 6},
		"streams_blocked_bidi": {typ: typeStreamsBlkBidi, value: 9},
		"streams_blocked_uni":  {typ: typeStreamsBlkUni, value: 10},
		"ping_request":         {typ: typePingRequest, value: 3},
		"ping_response":        {typ: typePingResponse, value: 3},
		"datagram":             {typ: typeDatagramLen, data: []byte("dgram")},
		"transport_parameters": {typ: typeTransportParam, params: tp},
	}
	if len(g) != len(want) {
		t.Fatalf("%d golden frames, %d expected", len(g), len(want))
	}
	for name, b := range g {
		f, n, err := parseFrame(b)
		if err != nil || n != len(b) {
			t.Errorf("%s: parse: %d of %d bytes, %v", name, n, len(b), err)
			continue
		}
		if w := want[name]; !reflect.DeepEqual(f, w) {
			t.Errorf("%s: parsed %+v, want %+v", name, f, w)
		}
		if enc := appendFrame(nil, &f); !bytes.Equal(enc, b) {
			t.Errorf("%s: re-encoded %x, @moq/qmux wrote %x", name, enc, b)
		}
		for i := range len(b) {
			if _, _, err := parseFrame(b[:i]); err == nil {
				t.Errorf("%s: a %d-byte prefix of %d parsed", name, i, len(b))
			}
		}
	}
}

// sameFrame compares the decoded meaning of two frames.
func sameFrame(a, b frame) bool {
	if a.typ == typeDatagram {
		a.typ = typeDatagramLen
	}
	if b.typ == typeDatagram {
		b.typ = typeDatagramLen
	}
	if len(a.data) == 0 && len(b.data) == 0 {
		a.data, b.data = nil, nil
	}
	return reflect.DeepEqual(a, b)
}

func FuzzParseFrame(f *testing.F) {
	for _, b := range golden(f) {
		f.Add(b)
	}
	f.Add([]byte{0x08, 0x01, 'a', 'b'}) // STREAM without offset or length
	f.Add([]byte{0x30, 'x'})            // DATAGRAM to the end
	f.Add([]byte{0x24, 1, 2, 3, 2})     // RESET_STREAM_AT
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, n, err := parseFrame(b)
		if err != nil {
			return
		}
		if n <= 0 || n > len(b) {
			t.Fatalf("used %d of %d bytes", n, len(b))
		}
		if fr.typ == typePadding || fr.typ == typePing {
			return
		}
		enc := appendFrame(nil, &fr)
		again, m, err := parseFrame(enc)
		if err != nil || m != len(enc) {
			t.Fatalf("re-encoded %x does not parse: %v", enc, err)
		}
		if !sameFrame(fr, again) {
			t.Fatalf("round trip changed %+v into %+v", fr, again)
		}
	})
}

func FuzzParams(f *testing.F) {
	f.Add((&params{idleTimeoutMs: 30000, maxData: 1 << 20, streamsBidi: 100, maxRecordSize: 65536, resetStreamAt: true}).append(nil))
	f.Add([]byte{0x40, 0x99, 0x01, 0x00}) // an unknown parameter
	f.Fuzz(func(t *testing.T, b []byte) {
		var p params
		if p.parse(b) != nil {
			return
		}
		var q params
		if err := q.parse(p.append(nil)); err != nil {
			t.Fatalf("re-encoded parameters do not parse: %v", err)
		}
		if p != q {
			t.Fatalf("round trip changed %+v into %+v", p, q)
		}
	})
}

// recordTransport hands out fixed records, then EOF.
type recordTransport struct {
	records [][]byte
	closed  chan struct{}
	once    sync.Once
}

func (t *recordTransport) ReadRecord() ([]byte, error) {
	if len(t.records) > 0 {
		r := t.records[0]
		t.records = t.records[1:]
		return r, nil
	}
	<-t.closed
	return nil, io.EOF
}
func (t *recordTransport) WriteRecord(context.Context, []byte) error { return nil }
func (t *recordTransport) Close() error {
	t.once.Do(func() { close(t.closed) })
	return nil
}
func (t *recordTransport) LocalAddr() net.Addr  { return wsAddr("local") }
func (t *recordTransport) RemoteAddr() net.Addr { return wsAddr("remote") }

// FuzzRecord feeds a connection the peer's parameters and then one
// arbitrary record: whatever it holds, the connection neither panics nor
// hangs, and closes cleanly.
func FuzzRecord(f *testing.F) {
	tp := appendFrame(nil, &frame{typ: typeTransportParam, params: &params{maxData: 1 << 20, streamUni: 1 << 16, streamBidiLocal: 1 << 16, streamsBidi: 10, streamsUni: 10, maxRecordSize: defaultMaxRecordSize}})
	for _, b := range golden(f) {
		f.Add(b)
	}
	f.Add(appendFrame(nil, &frame{typ: typeStreamBase, id: 2, data: []byte("data"), fin: true}))
	f.Add(append(appendFrame(nil, &frame{typ: typeStreamBase, id: 0, data: []byte("x")}), appendFrame(nil, &frame{typ: typeResetStream, id: 0, code: 1, finalSize: 1})...))
	f.Fuzz(func(t *testing.T, rec []byte) {
		tr := &recordTransport{records: [][]byte{tp, rec}, closed: make(chan struct{})}
		c := Server(tr, &Config{Version: Draft02})
		<-c.HandshakeComplete()
		// Accept whatever streams the record opened and read them out.
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		for {
			s, err := c.AcceptUniStream(ctx)
			if err != nil {
				break
			}
			// What arrived, without waiting for more.
			s.SetReadDeadline(time.Now())
			io.Copy(io.Discard, s)
		}
		c.CloseWithError(0, "")
		if err := context.Cause(c.Context()); err == nil {
			t.Fatal("closed connection without a cause")
		} else if errors.Is(err, context.Canceled) {
			t.Fatal("cause is a bare cancel")
		}
	})
}
