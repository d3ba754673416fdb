package qmux

import (
	"errors"
	"fmt"

	"github.com/quic-go/quic-go/quicvarint"
)

// Transport parameter IDs (RFC 9000 §18.2 and the QMux drafts).
const (
	paramIdleTimeout     = 0x01
	paramMaxData         = 0x04
	paramStreamBidiLocal = 0x05
	paramStreamBidiRemot = 0x06
	paramStreamUni       = 0x07
	paramStreamsBidi     = 0x08
	paramStreamsUni      = 0x09
	paramResetStreamAt   = 0x1d
	paramMaxDatagram     = 0x20
	paramMaxRecordSize   = 0x0571c59429cd0845
	paramAppProtocols    = 0x3d4f9c2a8b1e6075
)

// defaultMaxRecordSize is draft-01's default and smallest max_record_size:
// 16 KiB less the 2-byte Size a record has on a byte stream.
const defaultMaxRecordSize = 16382

// maxFrameSize bounds a whole frame on draft-00, which has no records.
const maxFrameSize = 16384

// params are the QMux transport parameters one endpoint sends.
type params struct {
	idleTimeoutMs   uint64
	maxData         uint64
	streamBidiLocal uint64
	streamBidiRemot uint64
	streamUni       uint64
	streamsBidi     uint64
	streamsUni      uint64
	maxDatagram     uint64
	maxRecordSize   uint64
	resetStreamAt   bool
}

func (p *params) append(b []byte) []byte {
	write := func(id, v uint64) {
		b = quicvarint.Append(b, id)
		b = quicvarint.Append(b, uint64(quicvarint.Len(v)))
		b = quicvarint.Append(b, v)
	}
	put := func(id, v uint64) { // 0 is every parameter's default but one
		if v != 0 {
			write(id, v)
		}
	}
	put(paramIdleTimeout, p.idleTimeoutMs)
	put(paramMaxData, p.maxData)
	put(paramStreamBidiLocal, p.streamBidiLocal)
	put(paramStreamBidiRemot, p.streamBidiRemot)
	put(paramStreamUni, p.streamUni)
	put(paramStreamsBidi, p.streamsBidi)
	put(paramStreamsUni, p.streamsUni)
	put(paramMaxDatagram, p.maxDatagram)
	if p.maxRecordSize != defaultMaxRecordSize {
		// Its default is not 0, so an explicit 0 (which the peer then
		// refuses) is written too.
		write(paramMaxRecordSize, p.maxRecordSize)
	}
	if p.resetStreamAt {
		b = quicvarint.Append(b, paramResetStreamAt)
		b = quicvarint.Append(b, 0)
	}
	return b
}

// parse decodes a QX_TRANSPORT_PARAMETERS body. Unknown IDs are skipped; a
// repeated known one, a QUIC parameter QMux forbids, application_protocols
// (the protocol is negotiated by the WebSocket subprotocol) and trailing
// bytes in a value are errors.
func (p *params) parse(b []byte) error {
	*p = params{maxRecordSize: defaultMaxRecordSize}
	var seen []uint64
	for pos := 0; pos < len(b); {
		id, err := readVarint(b, &pos)
		if err != nil {
			return err
		}
		n, err := readVarint(b, &pos)
		if err != nil {
			return err
		}
		val, err := readBytes(b, &pos, n)
		if err != nil {
			return err
		}
		switch {
		case id == 0x00 || id == 0x02 || id == 0x03 || (id >= 0x0a && id <= 0x10):
			return fmt.Errorf("qmux: transport parameter %#x is not allowed in QMux", id)
		case id == paramAppProtocols:
			return errors.New("qmux: unexpected application_protocols transport parameter")
		}
		var dst *uint64
		switch id {
		case paramIdleTimeout:
			dst = &p.idleTimeoutMs
		case paramMaxData:
			dst = &p.maxData
		case paramStreamBidiLocal:
			dst = &p.streamBidiLocal
		case paramStreamBidiRemot:
			dst = &p.streamBidiRemot
		case paramStreamUni:
			dst = &p.streamUni
		case paramStreamsBidi:
			dst = &p.streamsBidi
		case paramStreamsUni:
			dst = &p.streamsUni
		case paramMaxDatagram:
			dst = &p.maxDatagram
		case paramMaxRecordSize:
			dst = &p.maxRecordSize
		case paramResetStreamAt:
		default:
			continue
		}
		for _, s := range seen {
			if s == id {
				return fmt.Errorf("qmux: duplicate transport parameter %#x", id)
			}
		}
		seen = append(seen, id)
		if id == paramResetStreamAt {
			if len(val) != 0 {
				return errors.New("qmux: reset_stream_at transport parameter has a value")
			}
			p.resetStreamAt = true
			continue
		}
		v, m, err := quicvarint.Parse(val)
		if err != nil || m != len(val) {
			return fmt.Errorf("qmux: malformed transport parameter %#x", id)
		}
		*dst = v
	}
	if p.streamsBidi > 1<<60 || p.streamsUni > 1<<60 {
		return errors.New("qmux: initial stream count above 2^60")
	}
	return nil
}
