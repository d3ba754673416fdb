package qmux

import (
	"errors"
	"fmt"

	"github.com/quic-go/quic-go/quicvarint"
)

// Frame types (RFC 9000 §19 and the QMux drafts).
const (
	typePadding        = 0x00
	typePing           = 0x01
	typeResetStream    = 0x04
	typeStopSending    = 0x05
	typeStreamBase     = 0x08 // 0x08..0x0f: OFF 0x04, LEN 0x02, FIN 0x01
	typeMaxData        = 0x10
	typeMaxStreamData  = 0x11
	typeMaxStreamsBidi = 0x12
	typeMaxStreamsUni  = 0x13
	typeDataBlocked    = 0x14
	typeStreamDataBlk  = 0x15
	typeStreamsBlkBidi = 0x16
	typeStreamsBlkUni  = 0x17
	typeConnClose      = 0x1c
	typeAppClose       = 0x1d
	typeResetStreamAt  = 0x24
	typeDatagram       = 0x30 // runs to the end of the record
	typeDatagramLen    = 0x31
	typeTransportParam = 0x3f5153300d0a0d0a // QX_TRANSPORT_PARAMETERS
	typePingRequest    = 0x348c67529ef8c7bd // QX_PING request
	typePingResponse   = 0x348c67529ef8c7be // QX_PING response
)

// errTruncated is returned for a frame that ends before its last field.
var errTruncated = errors.New("qmux: frame truncated")

// frame is one decoded QMux frame. Which fields are meaningful depends on
// typ; data aliases the record it was parsed from.
type frame struct {
	typ       uint64
	id        uint64 // stream frames, resets, STOP_SENDING, MAX_STREAM_DATA
	offset    uint64 // STREAM
	data      []byte // STREAM and DATAGRAM payload, close reason
	fin       bool   // STREAM
	code      uint64 // RESET_STREAM, STOP_SENDING, closes
	finalSize uint64 // RESET_STREAM(_AT)
	reliable  uint64 // RESET_STREAM_AT
	value     uint64 // MAX_*, *_BLOCKED limits, ping sequence numbers
	causing   uint64 // CONNECTION_CLOSE frame type
	params    *params
}

func readVarint(b []byte, p *int) (uint64, error) {
	v, n, err := quicvarint.Parse(b[*p:])
	if err != nil {
		return 0, errTruncated
	}
	*p += n
	return v, nil
}

// readBytes returns the next n bytes of b, bounded by what b holds.
func readBytes(b []byte, p *int, n uint64) ([]byte, error) {
	if n > uint64(len(b)-*p) {
		return nil, errTruncated
	}
	out := b[*p : *p+int(n)]
	*p += int(n)
	return out, nil
}

// parseFrame decodes the frame at the start of b, which is the rest of a
// record. It returns the frame and the bytes it used. Every length is
// bounded by len(b), so nothing is allocated beyond the transport
// parameters.
func parseFrame(b []byte) (frame, int, error) {
	var f frame
	p := 0
	typ, err := readVarint(b, &p)
	if err != nil {
		return f, 0, err
	}
	f.typ = typ
	next := func() uint64 {
		if err != nil {
			return 0
		}
		var v uint64
		v, err = readVarint(b, &p)
		return v
	}
	switch {
	case typ == typePadding, typ == typePing:
	case typ >= typeStreamBase && typ <= typeStreamBase|0x07:
		f.typ = typeStreamBase
		f.fin = typ&0x01 != 0
		f.id = next()
		if typ&0x04 != 0 {
			f.offset = next()
		}
		if err != nil {
			return f, 0, err
		}
		if typ&0x02 != 0 {
			n := next()
			if err != nil {
				return f, 0, err
			}
			if f.data, err = readBytes(b, &p, n); err != nil {
				return f, 0, err
			}
		} else {
			f.data = b[p:]
			p = len(b)
		}
		if f.offset+uint64(len(f.data)) > quicvarint.Max {
			return f, 0, errors.New("qmux: STREAM frame beyond the largest offset")
		}
	case typ == typeResetStream:
		f.id, f.code, f.finalSize = next(), next(), next()
	case typ == typeResetStreamAt:
		f.id, f.code, f.finalSize, f.reliable = next(), next(), next(), next()
		if err == nil && f.reliable > f.finalSize {
			return f, 0, errors.New("qmux: RESET_STREAM_AT reliable size exceeds final size")
		}
	case typ == typeStopSending:
		f.id, f.code = next(), next()
	case typ == typeMaxData, typ == typeMaxStreamsBidi, typ == typeMaxStreamsUni,
		typ == typeDataBlocked, typ == typeStreamsBlkBidi, typ == typeStreamsBlkUni,
		typ == typePingRequest, typ == typePingResponse:
		f.value = next()
	case typ == typeMaxStreamData, typ == typeStreamDataBlk:
		f.id, f.value = next(), next()
	case typ == typeConnClose, typ == typeAppClose:
		f.code = next()
		if typ == typeConnClose {
			f.causing = next()
		}
		n := next()
		if err != nil {
			return f, 0, err
		}
		if f.data, err = readBytes(b, &p, n); err != nil {
			return f, 0, err
		}
	case typ == typeDatagram:
		f.data = b[p:]
		p = len(b)
	case typ == typeDatagramLen:
		n := next()
		if err != nil {
			return f, 0, err
		}
		if f.data, err = readBytes(b, &p, n); err != nil {
			return f, 0, err
		}
	case typ == typeTransportParam:
		n := next()
		if err != nil {
			return f, 0, err
		}
		var body []byte
		if body, err = readBytes(b, &p, n); err != nil {
			return f, 0, err
		}
		var tp params
		if err := tp.parse(body); err != nil {
			return f, 0, err
		}
		f.params = &tp
	default:
		return f, 0, fmt.Errorf("qmux: unknown frame type %#x", typ)
	}
	if err != nil {
		return f, 0, err
	}
	if (typ == typeMaxStreamsBidi || typ == typeMaxStreamsUni || typ == typeStreamsBlkBidi || typ == typeStreamsBlkUni) && f.value > 1<<60 {
		return f, 0, errors.New("qmux: stream count above 2^60")
	}
	return f, p, nil
}

// appendFrame encodes f. STREAM frames always carry their offset and
// length (what @moq/qmux sends and every receiver accepts); DATAGRAM frames
// carry their length.
func appendFrame(b []byte, f *frame) []byte {
	switch f.typ {
	case typeStreamBase:
		t := uint64(typeStreamBase | 0x04 | 0x02)
		if f.fin {
			t |= 0x01
		}
		b = quicvarint.Append(b, t)
		b = quicvarint.Append(b, f.id)
		b = quicvarint.Append(b, f.offset)
		b = quicvarint.Append(b, uint64(len(f.data)))
		return append(b, f.data...)
	case typeResetStream:
		b = quicvarint.Append(b, f.typ)
		b = quicvarint.Append(b, f.id)
		b = quicvarint.Append(b, f.code)
		return quicvarint.Append(b, f.finalSize)
	case typeResetStreamAt:
		b = quicvarint.Append(b, f.typ)
		b = quicvarint.Append(b, f.id)
		b = quicvarint.Append(b, f.code)
		b = quicvarint.Append(b, f.finalSize)
		return quicvarint.Append(b, f.reliable)
	case typeStopSending:
		b = quicvarint.Append(b, f.typ)
		b = quicvarint.Append(b, f.id)
		return quicvarint.Append(b, f.code)
	case typeMaxStreamData, typeStreamDataBlk:
		b = quicvarint.Append(b, f.typ)
		b = quicvarint.Append(b, f.id)
		return quicvarint.Append(b, f.value)
	case typeConnClose, typeAppClose:
		b = quicvarint.Append(b, f.typ)
		b = quicvarint.Append(b, f.code)
		if f.typ == typeConnClose {
			b = quicvarint.Append(b, f.causing)
		}
		b = quicvarint.Append(b, uint64(len(f.data)))
		return append(b, f.data...)
	case typeDatagram, typeDatagramLen:
		b = quicvarint.Append(b, typeDatagramLen)
		b = quicvarint.Append(b, uint64(len(f.data)))
		return append(b, f.data...)
	case typeTransportParam:
		body := f.params.append(nil)
		b = quicvarint.Append(b, f.typ)
		b = quicvarint.Append(b, uint64(len(body)))
		return append(b, body...)
	case typePadding, typePing:
		return quicvarint.Append(b, f.typ)
	default: // a frame with one value
		b = quicvarint.Append(b, f.typ)
		return quicvarint.Append(b, f.value)
	}
}

// streamFrameOverhead is the largest header appendFrame writes for a STREAM
// frame with this id and offset and a payload of up to 16383 bytes.
func streamFrameOverhead(id, offset uint64) int {
	return 1 + quicvarint.Len(id) + quicvarint.Len(offset) + 2
}
