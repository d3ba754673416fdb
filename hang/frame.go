package hang

import (
	"errors"

	"github.com/quic-go/quic-go/quicvarint"
)

// MaxTimestamp is the largest timestamp a legacy frame can carry (a QUIC
// varint holds 62 bits).
const MaxTimestamp = quicvarint.Max

// ErrTimestampRange is returned by AppendFrame for a timestamp above
// MaxTimestamp.
var ErrTimestampRange = errors.New("hang: timestamp out of range")

// AppendFrame appends a legacy-container frame to b: timestamp (the
// presentation time in microseconds, as a QUIC varint) followed by payload,
// the codec's bytes. An empty payload is a marker players skip.
func AppendFrame(b []byte, timestamp uint64, payload []byte) ([]byte, error) {
	if timestamp > MaxTimestamp {
		return b, ErrTimestampRange
	}
	b = quicvarint.Append(b, timestamp)
	return append(b, payload...), nil
}

// ParseFrame splits a legacy-container frame into its timestamp in
// microseconds and its payload (which aliases b).
func ParseFrame(b []byte) (timestamp uint64, payload []byte, err error) {
	ts, n, err := quicvarint.Parse(b)
	if err != nil {
		return 0, nil, errors.New("hang: frame shorter than its timestamp")
	}
	return ts, b[n:], nil
}
